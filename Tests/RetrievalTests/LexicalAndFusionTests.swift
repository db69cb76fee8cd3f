import Foundation
import Retrieval
import XCTest

final class LexicalAndFusionTests: XCTestCase {
    /// Okapi BM25 worked by hand: "the" and "on" are function words, so the passages hold 2, 3 and 2 terms
    /// (average 7/3); "cat" is in two of three, idf = ln(1 + 1.5 / 2.5) = ln 1.6.
    func testBM25ScoresAWorkedExample() {
        let index = BM25Index(passages: ["the cat sat", "the dog sat on the cat", "birds fly"])
        let hits = index.search("Cat?", k: 5)
        XCTAssertEqual(hits.map(\.id), [0, 1], "the passage without the term is not listed")
        let idf = log(1.6)
        // tf = 1: idf · 2.2 / (1 + 1.2 · (0.25 + 0.75 · len / avg))
        XCTAssertEqual(Double(hits[0].score), idf * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / (7.0 / 3))), accuracy: 1e-5)
        XCTAssertEqual(Double(hits[1].score), idf * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 3 / (7.0 / 3))), accuracy: 1e-5)
        XCTAssertEqual(index.search("cat", k: 1).map(\.id), [0])
        XCTAssertTrue(index.search("the on", k: 3).isEmpty, "function words alone match nothing")
    }

    func testBM25TermsKeepNamesWithTheirPossessives() {
        XCTAssertEqual(BM25Index(passages: []).search("x", k: 3).count, 0)
        let index = BM25Index(passages: ["Mr. Darcy's letter", "a letter from Jane", "Darcy at Pemberley"])
        XCTAssertEqual(Set(index.search("darcy", k: 5).map(\.id)), [0, 2])
        XCTAssertEqual(index.search("PEMBERLEY", k: 5).map(\.id), [2])
    }

    /// Reciprocal rank fusion by hand (k = 60): with equal weights passage 3 (ranks 3 and 2) wins on agreement, and
    /// 1 and 4 tie at 1/61 (1 came first); weighting the first list 3× puts its own order first after 3.
    func testReciprocalRankFusionWorkedExample() {
        let equal = RankFusion.reciprocalRank([([1, 2, 3], 1), ([4, 3], 1)])
        XCTAssertEqual(equal.map(\.id), [3, 1, 4, 2])
        XCTAssertEqual(equal[0].score, 1.0 / 63 + 1.0 / 62, accuracy: 1e-12)
        XCTAssertEqual(equal[3].score, 1.0 / 62, accuracy: 1e-12)
        let weighted = RankFusion.reciprocalRank([([1, 2, 3], 3), ([4, 3], 1)])
        XCTAssertEqual(weighted.map(\.id), [3, 1, 2, 4])
        XCTAssertEqual(weighted[1].score, 3.0 / 61, accuracy: 1e-12)
        XCTAssertTrue(RankFusion.reciprocalRank([]).isEmpty)
    }
}
