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
