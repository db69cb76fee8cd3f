import Foundation
import TestSupport
import XCTest

@testable import Datasets

final class SFTStoreTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try temporaryDirectory("sftstore") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Two contexts (one added twice under the same key), four examples, one without a context.
    func writeSample(_ url: URL) throws -> (contexts: [[Int]], examples: [SFTExample]) {
        let writer = try SFTStoreWriter(url: url, vocabSize: 500, tokenizerSHA256: testTokenizerHash)
        writer.addSource("clues.jsonl")
        let long = Array(0..<300).map { $0 % 500 }
        let other = [9, 8, 7, 6]
        let a = try writer.addContext(long, key: "doc-a")
        let b = try writer.addContext(other, key: "doc-b")
        XCTAssertEqual(try writer.addContext([1, 2, 3], key: "doc-a"), a, "same key, same context")
        XCTAssertEqual(writer.contextCount, 2)
        let examples = [
            SFTExample(contextID: a, prompt: [1, 2, 3], target: [4, 5], task: .recall),
            SFTExample(contextID: b, prompt: [10], target: [11, 12, 13], task: .rewrite),
            SFTExample(contextID: a, prompt: [], target: [499], task: .answer),
            SFTExample(contextID: nil, prompt: [20, 21], target: [22], task: .summarize),
        ]
        for e in examples {
            try writer.addExample(contextID: e.contextID, prompt: e.prompt, target: e.target, task: e.task)
        }
        XCTAssertThrowsError(try writer.addExample(contextID: 5, prompt: [1] as [Int], target: [1] as [Int], task: .recall))
        XCTAssertThrowsError(try writer.addExample(contextID: nil, prompt: [1] as [Int], target: [] as [Int], task: .recall))
        try writer.finish()
        return ([long, other], examples)
    }

    func testRoundTripAndDeduplication() throws {
        let url = dir.appendingPathComponent("sft.h5")
        let (contexts, examples) = try writeSample(url)
        let store = try SFTStore(url: url, tokenizerSHA256: testTokenizerHash)
        XCTAssertEqual(store.contextCount, 2)
        XCTAssertEqual(store.exampleCount, 4)
        XCTAssertEqual(store.sources, ["clues.jsonl"])
        for (i, c) in contexts.enumerated() { XCTAssertEqual(try store.context(i).map(Int.init), c) }
        for (i, e) in examples.enumerated() { XCTAssertEqual(try store.example(i), e) }
        XCTAssertEqual(store.tasks, [.recall, .rewrite, .answer, .summarize])
        assertThrowsDataError(try store.example(4), containing: [url.path, "no example 4"])
        assertThrowsDataError(try SFTStore(url: url, tokenizerSHA256: String(repeating: "e", count: 64)),
                              containing: [url.path, "another tokenizer"])
    }

    func testH5pyReadsWhatWeWrite() throws {
        let (python, script) = try h5Interop()
        let url = dir.appendingPathComponent("sft.h5")
        let (contexts, examples) = try writeSample(url)
        let expected: [String: Any] = [
            "contexts": contexts,
            "examples": examples.map { e -> [String: Any] in
                ["context_id": e.contextID ?? -1, "prompt": e.prompt.map(Int.init), "target": e.target.map(Int.init),
                 "task": e.task.rawValue]
            },
        ]
        let json = dir.appendingPathComponent("expected.json")
        try JSONSerialization.data(withJSONObject: expected).write(to: json)
        let (status, output) = try runPythonCheck(python, [script, "check-sft", url.path, json.path])
        XCTAssertEqual(status, 0, output)
    }

    func testInconsistentExamplesAreRefused() throws {
        let (python, _) = try h5Interop()
        let url = dir.appendingPathComponent("sft.h5")
        _ = try writeSample(url)
        let edit = "import h5py, numpy as np\nwith h5py.File('\(url.path)', 'a') as f:\n"
            + "    f['examples/context_id'][1] = 9\n"
        XCTAssertEqual(try runPythonCheck(python, ["-c", edit]).status, 0)
        assertThrowsDataError(try SFTStore(url: url), containing: [url.path, "example 1 names context 9 of 2"])
    }
}
