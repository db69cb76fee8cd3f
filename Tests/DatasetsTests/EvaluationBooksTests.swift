import Foundation
import TestSupport
import XCTest

@testable import Datasets

final class EvaluationBooksTests: XCTestCase {
    func testRefusedByNameAndByContent() {
        let plain = "Alice was beginning to get very tired of sitting by her sister on the bank."
        XCTAssertNil(EvaluationBooks.match(text: plain, source: "alice.txt"))
        XCTAssertNotNil(EvaluationBooks.match(text: plain, source: "/x/eval/prideprejudice.txt"))
        XCTAssertNotNil(EvaluationBooks.match(text: plain, source: "Pride-and-Prejudice.txt"))
        XCTAssertNotNil(EvaluationBooks.match(text: plain, source: "persuasion.jsonl"))
        // An excerpt under another name, re-wrapped with curly quotes, is still caught.
        let excerpt = "Chapter 1\n\nIt is a truth universally\nacknowledged, that a single man in possession of a good "
            + "fortune, must be in want of a wife.\n\n\u{201C}My dear Mr. Bennet,\u{201D} said his lady"
        XCTAssertEqual(EvaluationBooks.match(text: excerpt, source: "book7.txt")?.title,
                       "Pride and Prejudice (Jane Austen)")
        let persuasion = "SIR WALTER ELLIOT, of Kellynch Hall, in Somersetshire, was a man who, for his own amusement"
        XCTAssertThrowsError(try EvaluationBooks.refuse(text: persuasion, source: "notes.txt")) { error in
            XCTAssertEqual(error as? DataError, .evaluationBook(source: "notes.txt", book: "Persuasion (Jane Austen)"))
        }
        XCTAssertNoThrow(try EvaluationBooks.refuse(text: plain, source: "alice.txt"))
    }
}
