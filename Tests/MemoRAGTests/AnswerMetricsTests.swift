import XCTest

@testable import MemoRAG
import Retrieval

final class AnswerMetricsTests: XCTestCase {
    func testF1ByHand() {
        // "the cat sat" → [cat, sat]; "a cat sat down" → [cat, sat, down]: common 2, P = 1, R = 2/3, F1 = 0.8.
        XCTAssertEqual(AnswerMetrics.f1("The cat sat.", "a cat sat down"), 0.8, accuracy: 1e-12)
        XCTAssertEqual(AnswerMetrics.f1("Paris", "paris!"), 1)
        XCTAssertEqual(AnswerMetrics.f1("London", "Paris"), 0)
        // Repeated tokens count once per occurrence in the reference.
        XCTAssertEqual(AnswerMetrics.f1("cat cat", "cat"), 2 * 0.5 * 1 / 1.5, accuracy: 1e-12)
    }

    func testRougeLByHand() {
        // LCS of [cat, sat, on, mat] and [cat, on, mat, today] is [cat, on, mat] = 3: P = 3/4, R = 3/4.
        XCTAssertEqual(AnswerMetrics.rougeL("the cat sat on the mat", "cat on the mat today"), 0.75, accuracy: 1e-12)
        XCTAssertEqual(AnswerMetrics.rougeL("", "x"), 0)
    }

    func testChineseCountsCharacters() {
        XCTAssertEqual(AnswerMetrics.tokens("鲁迅写了呐喊。"), ["鲁", "迅", "写", "了", "呐", "喊"])
        XCTAssertEqual(AnswerMetrics.f1("鲁迅", "鲁迅先生"), 2 * 1 * 0.5 / 1.5, accuracy: 1e-12)
    }

    func testBestOverReferences() {
        XCTAssertEqual(AnswerMetrics.best("Paris", references: ["London", "Paris"], AnswerMetrics.f1), 1)
    }

    /// The ceiling is the best run of words of one passage: here "white kid gloves, and" (4 words, all in the
    /// reference, normalised to "white kid gloves and fan": P 1, R 4/5, F1 8/9), since no run holds "fan" together
    /// with the gloves (words of two passages never join), and "the white kid gloves, and went" adds a miss.
    func testBestSpanF1ByHand() {
        let passages = ["She took up the white kid gloves, and went on.", "A fan lay on the table."]
        let ceiling = AnswerMetrics.bestSpanF1(in: passages, references: ["white kid gloves and a fan"])
        XCTAssertEqual(ceiling, 8.0 / 9, accuracy: 1e-9)
        XCTAssertEqual(AnswerMetrics.bestSpanF1(in: passages, references: ["fan"]), 1)
        XCTAssertEqual(AnswerMetrics.bestSpanF1(in: passages, references: ["fan"], maxWords: 1), 1)
        XCTAssertEqual(AnswerMetrics.bestSpanF1(in: passages, references: ["Dinah"]), 0)
        XCTAssertEqual(AnswerMetrics.bestSpanF1(in: [], references: ["fan"]), 0)
    }
}

final class ClueFilterTests: XCTestCase {
    func testShortEchoedAndDuplicateLinesAreDropped() {
        let reply = "Marta rowed out alone\nyes\nI have read the article. Please provide your question.\n  Marta rowed out alone in the dark  \n鲁迅写了呐喊"
        XCTAssertEqual(ClueLines.lines(of: reply, echoing: "I have read the article. Please provide your question."),
                       ["Marta rowed out alone", "Marta rowed out alone in the dark", "鲁迅写了呐喊"])
        // Numbered copies of one line and the question echoed back go; the list markers are stripped.
        let numbered = "### Question: Who rowed out?\n1. The article is about a rabbit.\n2. The article is about a rabbit.\n- Alice fell down the hole"
        XCTAssertEqual(ClueFilter.deduplicated(ClueLines.lines(of: numbered, question: "Who rowed out?")
                                                   .map { Clue(kind: .span, text: $0, document: nil) }).map(\.text),
                       ["The article is about a rabbit.", "Alice fell down the hole"])
        let clues = ["a b c d", "A B C D", "e f g h"].map { Clue(kind: .span, text: $0, document: "x") }
        XCTAssertEqual(ClueFilter.deduplicated(clues).map(\.text), ["a b c d", "e f g h"])
    }
}
