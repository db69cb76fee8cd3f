import Foundation
import TestSupport
import Torch
import XCTest

@testable import Datasets

final class SamplerTests: XCTestCase {
    var dir: URL!
    var store: TokenStore!
    /// Document d holds the ids 100·(d+1) + i, so every token says where it came from.
    let lengths = [500, 40, 10, 300, 3]

    override func setUpWithError() throws {
        dir = try temporaryDirectory("sampler")
        let docs = lengths.enumerated().map { d, n in (0..<n).map { 100 * (d + 1) * 10 + $0 } }
        let url = dir.appendingPathComponent("s.h5")
        try writeTokenStore(url, documents: docs, vocabSize: 60_000)
        store = try TokenStore(url: url)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func token(_ d: Int, _ i: Int) -> Int32 { Int32(100 * (d + 1) * 10 + i) }

    func testWindowsAreContiguousRunsWithinBounds() throws {
        let sampler = try LongContextSampler(store: store, documents: [0, 1, 2, 3, 4], separatorToken: 2)
        for cursor in 0..<300 {
            let w = try sampler.sample(minLength: 20, maxLength: 120, seed: 7, cursor: cursor)
            XCTAssertTrue((20...120).contains(w.tokens.count))
            // Rebuild the window from its pieces: each piece is a run of its document; separators between pieces.
            var rebuilt: [Int32] = []
            for (k, p) in w.pieces.enumerated() {
                if k > 0 { rebuilt.append(2) }
                XCTAssertTrue(p.start >= 0 && p.start + p.count <= lengths[p.document])
                rebuilt += (p.start..<(p.start + p.count)).map { token(p.document, $0) }
            }
            XCTAssertEqual(rebuilt, w.tokens, "cursor \(cursor)")
            if w.pieces.count > 1 {
                // Only documents shorter than the window are concatenated, from their start, in list order.
                XCTAssertLessThan(lengths[w.pieces[0].document], w.tokens.count)
                XCTAssertEqual(w.pieces[0].start, 0)
                for k in 1..<w.pieces.count {
                    XCTAssertEqual(w.pieces[k].document, (w.pieces[k - 1].document + 1) % 5)
                }
            }
        }
    }

    func testDeterministicGivenSeedAndCursor() throws {
        let a = try LongContextSampler(store: store, documents: store.trainingDocuments, separatorToken: 2)
        let b = try LongContextSampler(store: try TokenStore(url: store.url), documents: store.trainingDocuments,
                                       separatorToken: 2)
        let first = try (0..<50).map { try a.sample(minLength: 8, maxLength: 64, seed: 42, cursor: $0) }
        // Resuming at cursor 30 gives the same windows as the uninterrupted stream.
        let resumed = try (30..<50).map { try b.sample(minLength: 8, maxLength: 64, seed: 42, cursor: $0) }
        XCTAssertEqual(Array(first[30...]), resumed)
        let otherSeed = try (0..<50).map { try a.sample(minLength: 8, maxLength: 64, seed: 43, cursor: $0) }
        XCTAssertNotEqual(first, otherSeed)
        XCTAssertGreaterThan(Set(first.map(\.tokens)).count, 45, "windows differ from cursor to cursor")
    }

    func testLengthWeightedDocumentChoice() throws {
        let sampler = try LongContextSampler(store: store, documents: [0, 3], separatorToken: nil)
        var counts = [0: 0, 3: 0]
        for cursor in 0..<2000 {
            let w = try sampler.sample(minLength: 5, maxLength: 5, seed: 1, cursor: cursor)
            counts[w.pieces[0].document, default: 0] += 1
        }
        // Documents of 500 and 300 tokens: expect 62.5% / 37.5% (± 4 standard deviations of 2000 draws ≈ 4.3%).
        XCTAssertEqual(Double(counts[0]!) / 2000, 0.625, accuracy: 0.045)
    }

    func testRefusals() throws {
        XCTAssertThrowsError(try LongContextSampler(store: store, documents: [], separatorToken: 2))
        XCTAssertThrowsError(try LongContextSampler(store: store, documents: [0], separatorToken: 60_000))
        let sampler = try LongContextSampler(store: store, documents: [1, 2], separatorToken: 2)
        assertThrowsDataError(try sampler.sample(minLength: 10, maxLength: 52, seed: 0, cursor: 0),
                              containing: ["up to 52 tokens", "50 tokens"])
        // 40 + 1 separator + 10 = 51 fits exactly.
        let w = try sampler.sample(minLength: 51, maxLength: 51, seed: 0, cursor: 0)
        XCTAssertEqual(w.tokens.count, 51)
        assertThrowsDataError(try sampler.sample(minLength: 0, maxLength: 5, seed: 0, cursor: 0), containing: ["min"])
    }

    func testDocumentSplit() {
        let (train, validation) = DocumentSplit.split(documentCount: 100, validationFraction: 0.1, seed: 3)
        XCTAssertEqual(validation.count, 10)
        XCTAssertEqual(Set(train).union(validation), Set(0..<100))
        XCTAssertTrue(Set(train).isDisjoint(with: validation))
        XCTAssertEqual(DocumentSplit.split(documentCount: 100, validationFraction: 0.1, seed: 3).validation, validation)
        XCTAssertNotEqual(DocumentSplit.split(documentCount: 100, validationFraction: 0.1, seed: 4).validation, validation)
        XCTAssertEqual(DocumentSplit.split(documentCount: 3, validationFraction: 0.01, seed: 3).validation.count, 1)
        XCTAssertEqual(DocumentSplit.split(documentCount: 2, validationFraction: 0.9, seed: 3).validation.count, 1)
        XCTAssertEqual(DocumentSplit.split(documentCount: 1, validationFraction: 0.5, seed: 3).validation, [])
        XCTAssertEqual(DocumentSplit.split(documentCount: 5, validationFraction: 0, seed: 3).validation, [])
    }

    func testUniformIsUnbiasedAndStable() {
        var rng = SplitMix64(seed: 0)
        // SplitMix64's published first outputs for seed 0 (the reference C implementation).
        XCTAssertEqual(rng.next(), 0xe220_a839_7b1d_cdaf)
        XCTAssertEqual(rng.next(), 0x6e78_9e6a_a1b9_65f4)
        var counts = [Int](repeating: 0, count: 3)
        for _ in 0..<30_000 { counts[rng.uniform(below: 3)] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 400) }
    }
}
