import Foundation
import TestSupport
import TinyModels
import XCTest

/// `memorag memorize` and `ask` through the built binary on tiny models made at test time.
final class AskCommandTests: XCTestCase {
    /// An answer generator that fails (here an API nothing listens on) is an error on stderr with a non-zero exit;
    /// stdout carries no "answer:" label in front of a failure.
    func testAFailingAPIGeneratorIsAnErrorWithNoAnswerLabel() throws {
        guard let memorag = builtExecutable("memorag") else { return XCTFail("the memorag binary is not built") }
        let tiny = try TinyModels.shared()
        let dir = try temporaryDirectory("ask-command")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("lighthouse.txt")
        try Data("""
            The lighthouse on Gull Rock was kept by Marta Vell for thirty-one years. Every evening she climbed the \
            hundred and twelve steps to light the great lamp.
            """.utf8).write(to: text)
        let cache = dir.appendingPathComponent("cache")
        let models = ["--model", tiny.memoryModel.path, "--retriever", tiny.retriever.path, "--dtype", "fp32"]
        let made = try runProcess(memorag, ["memorize", "--cache", cache.path, "--mode", "longllm",
                                            "--chunk-tokens", "64", text.path] + models)
        XCTAssertEqual(made.status, 0, made.stderr)
        // The precision is said, on stderr (stdout may be JSON).
        XCTAssertTrue(made.stderr.contains("memorag: models run in float32"), made.stderr)

        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        let asked = try runProcess(memorag, ["ask", "--cache", cache.path, "--generator", "openai",
                                             "--base-url", "http://127.0.0.1:9/v1", "--api-model", "m",
                                             // a refused connection is retried after 0.05 s, then 0.1 s, …
                                             "--api-backoff", "0.05",
                                             "--clue-tokens", "4", "--max-new-tokens", "4",
                                             "Who kept the lighthouse?"] + models)
        XCTAssertNotEqual(asked.status, 0, asked.stdout)
        XCTAssertFalse(asked.stdout.contains("answer:"), "stdout: \(asked.stdout)")
        XCTAssertTrue(asked.stderr.contains("Error"), asked.stderr)
        XCTAssertTrue(asked.stderr.contains("cannot connect"), asked.stderr)

        // Retrieval and evidence options out of range are refused by name before any model loads.
        let refusals: [([String], String)] = [
            (["--evidence-snippets", "0"], "--evidence-snippets takes a count of at least 1 or 'all'"),
            (["--memory-attention", "5-2"], "--memory-attention takes a layer or a range"),
            (["--attention-weight", "2"], "--attention-weight needs --memory-attention"),
            (["--memory-attention", "0-1", "--attention-weight", "nan"], "--attention-weight must be a finite number"),
        ]
        for (options, message) in refusals {
            let refused = try runProcess(memorag, ["ask", "--cache", cache.path] + options + ["Who kept the lighthouse?"] + models)
            XCTAssertNotEqual(refused.status, 0, "\(options)")
            XCTAssertTrue(refused.stderr.contains(message), "\(options): \(refused.stderr)")
        }
    }
}
