import Foundation
import Models
import Torch
import XCTest
import TestSupport

/// A constrained reply copies one span of its sources: checked on hand-written sources, then through a real model's
/// generation (whose unconstrained reply is something else).
final class SpanCopyConstraintTests: XCTestCase {
    func testTheAllowedIdsExtendASpanOfSomeSource() {
        let stop = 99
        let constraint = SpanCopyConstraint(sources: [[1, 2, 3, 2, 4], [7, 2, 5]], stopTokenIds: [stop], minimumTokens: 1,
                                            starts: [[true, true, true, false, true], [true, false, true]])
        // Any token at a start position opens a span; no stop before the first token.
        XCTAssertEqual(constraint.allowed(after: []), [1, 2, 3, 4, 7, 5])
        // After 2 (it starts at index 1 of the first source only, index 3 and 1 of the second are not starts):
        // source 0 continues with 3.
        XCTAssertEqual(constraint.allowed(after: [2]), [3, stop])
        XCTAssertEqual(constraint.allowed(after: [2, 3]), [2, stop])
        XCTAssertEqual(constraint.allowed(after: [2, 3, 2]), [4, stop])
        // The whole of a source: nothing extends it, so only a stop.
        XCTAssertEqual(constraint.allowed(after: [1, 2, 3, 2, 4]), [stop])
        XCTAssertEqual(constraint.allowed(after: [7]), [2, stop])
    }

    func testTheMinimumLengthHoldsTheStopBack() {
        let constraint = SpanCopyConstraint(sources: [[1, 2, 3]], stopTokenIds: [0], minimumTokens: 2)
        XCTAssertFalse(constraint.allowed(after: [1]).contains(0))
        XCTAssertTrue(constraint.allowed(after: [1, 2]).contains(0))
        // A span that cannot grow may stop even below the minimum, instead of leaving no choice.
        XCTAssertEqual(constraint.allowed(after: [3]), [0])
    }

    func testWithLineBreaksEachLineCopiesItsOwnSpan() {
        let (stop, newline) = (99, 50)
        // The second source holds a line break of its own (index 2): a line may end there but never runs through it.
        let constraint = SpanCopyConstraint(sources: [[1, 2, 3, 4], [7, 8, newline, 9]], stopTokenIds: [stop],
                                            minimumTokens: 2, lineBreakTokenIds: [newline])
        // The first line: neither a break nor a stop before it holds two ids.
        XCTAssertEqual(constraint.allowed(after: []), [1, 2, 3, 4, 7, 8, 9])
        XCTAssertEqual(constraint.allowed(after: [2]), [3])
        XCTAssertEqual(constraint.allowed(after: [2, 3]), [4, newline, stop])
        // Where the source's own line break follows, the line can only end.
        XCTAssertEqual(constraint.allowed(after: [7, 8]), [newline, stop])
        // A new line starts a new span anywhere, and the reply may stop there: it holds a whole line.
        XCTAssertEqual(constraint.allowed(after: [2, 3, newline]), [1, 2, 3, 4, 7, 8, 9, stop])
        XCTAssertEqual(constraint.allowed(after: [2, 3, newline, 7]), [8])
        XCTAssertEqual(constraint.allowed(after: [2, 3, newline, 7, 8]), [newline, stop])
        // Without line breaks a line break id is just another id of the sources.
        let single = SpanCopyConstraint(sources: [[7, 8, newline, 9]], stopTokenIds: [stop])
        XCTAssertEqual(single.allowed(after: [7, 8]), [newline, stop])
        XCTAssertEqual(single.allowed(after: [7, 8, newline]), [9, stop])
    }

    func testAMinimumInWordsCountsTheIdsThatOpenAWord() {
        let (stop, newline) = (99, 50)
        // Ids 10 and 12 begin with a space (" the", " house"); 11 and 13 continue a word ("s", ",").
        let constraint = SpanCopyConstraint(sources: [[10, 11, 12, 13, 10, 12]], stopTokenIds: [stop],
                                            lineBreakTokenIds: [newline], minimumWords: 3, wordStartTokenIds: [10, 12])
        XCTAssertEqual(constraint.allowed(after: [10, 11, 12]), [13])          // two words: the line goes on
        XCTAssertEqual(constraint.allowed(after: [10, 11, 12, 13]), [10])      // "," opens no word
        XCTAssertEqual(constraint.allowed(after: [10, 11, 12, 13, 10]), [12, newline, stop])
        // The first id of a line opens a word whatever it is.
        XCTAssertEqual(constraint.allowed(after: [11, 12, 13, 10]), [12, newline, stop])
    }

    func testAConstrainedGenerationCopiesASpanWhereTheFreeOneDoesNot() throws {
        let model = try DecoderLM.load(directory: DecoderParityTests.fixtures.appendingPathComponent("qwen2"))
        let prompt = [5, 17, 42, 8, 9]
        let source = [30, 31, 32, 33, 34, 35, 36, 37]
        let free = try model.generate(promptIds: prompt, parameters: .init(maxNewTokens: 6))
        XCTAssertFalse(isSpan(free.outputIds, of: source), "the test needs a model that would not copy on its own")
        let constraint = SpanCopyConstraint(sources: [source], stopTokenIds: [2])
        let copied = try model.generate(promptIds: prompt,
                                        parameters: .init(maxNewTokens: 6, stopTokenIds: [2], constraint: constraint))
        XCTAssertFalse(copied.outputIds.isEmpty)
        XCTAssertTrue(isSpan(copied.outputIds, of: source), "\(copied.outputIds) is not a span of \(source)")
        // Greedy over the allowed ids: the first token is the best-scored id the source holds.
        let logits = try model.prefill(prompt, cache: model.makeCache())
        XCTAssertEqual(copied.outputIds[0], source.max { logits[$0] < logits[$1] })
    }

    private func isSpan(_ ids: [Int], of source: [Int]) -> Bool {
        guard !ids.isEmpty, ids.count <= source.count else { return false }
        return (0...(source.count - ids.count)).contains { source[$0..<($0 + ids.count)].elementsEqual(ids) }
    }
}
