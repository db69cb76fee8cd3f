import Foundation
import TestSupport
import TinyModels
import XCTest

/// `memorag memorize`, `ask` and `eval` through the built binary on tiny models made at test time.
final class AskCommandTests: XCTestCase {
    /// An answer generator that fails (here an API nothing listens on) is an error on stderr with a non-zero exit;
    /// stdout carries no "answer:" label in front of a failure.
    /// A lighthouse story memorized with the tiny models by the built binary: the binary, a directory to write in,
    /// the cache, and the model options every later command repeats.
    private func memorizedLighthouse(_ name: String) throws -> (memorag: URL, dir: URL, cache: URL, models: [String]) {
        let memorag = try XCTUnwrap(builtExecutable("memorag"), "the memorag binary is not built")
        let tiny = try TinyModels.shared()
        let dir = try temporaryDirectory(name)
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
        return (memorag, dir, cache, models)
    }

    func testAFailingAPIGeneratorIsAnErrorWithNoAnswerLabel() throws {
        let (memorag, dir, cache, models) = try memorizedLighthouse("ask-command")
        defer { try? FileManager.default.removeItem(at: dir) }

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
            (["--memory-attention", "0-1"], "--memory-attention needs --rerank 0"),
            (["--rerank=-1"], "--rerank must be 0 (off) or a passage count"),
            (["--attention-weight", "2"], "--attention-weight needs --memory-attention"),
            (["--memory-attention", "0-1", "--rerank", "0", "--attention-weight", "nan"], "--attention-weight must be a finite number"),
            (["--span-clue-style", "scored"], "--span-clue-style is generated or copied"),
        ]
        for (options, message) in refusals {
            let refused = try runProcess(memorag, ["ask", "--cache", cache.path] + options + ["Who kept the lighthouse?"] + models)
            XCTAssertNotEqual(refused.status, 0, "\(options)")
            XCTAssertTrue(refused.stderr.contains(message), "\(options): \(refused.stderr)")
        }
    }

    /// `eval` checks the gold quotes against the memorized text before asking anything: a set none of whose quotes
    /// is there is an error naming both files; a quote missing from an otherwise good set is a warning naming its
    /// question.
    func testEvalChecksTheGoldQuotesAgainstTheMemorizedText() throws {
        let (memorag, dir, cache, models) = try memorizedLighthouse("eval-command")
        defer { try? FileManager.default.removeItem(at: dir) }
        func eval(_ lines: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            let questions = dir.appendingPathComponent("questions.jsonl")
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: questions)
            return try runProcess(memorag, ["eval", "--cache", cache.path, "--questions", questions.path,
                                            "--max-new-tokens", "1"] + models)
        }
        let kept = #"{"id": "kept", "question": "Who kept the lighthouse?", "answers": ["Marta Vell"], "evidence": ["The lighthouse on Gull Rock was kept by Marta Vell for thirty-one years."]}"#
        let alien = #"{"id": "alien", "question": "Who fell down the hole?", "answers": ["Alice"], "evidence": ["Alice was beginning to get very tired of sitting by her sister on the bank"]}"#
        let wrongBook = try eval([alien])
        XCTAssertNotEqual(wrongBook.status, 0)
        XCTAssertTrue(wrongBook.stderr.contains("none of its 1 evidence quotes is in the text memorized in \(cache.path)"),
                      wrongBook.stderr)
        let mixed = try eval([kept, alien])
        XCTAssertEqual(mixed.status, 0, mixed.stderr)
        XCTAssertTrue(mixed.stderr.contains("1 of the 2 evidence quotes"), mixed.stderr)
        XCTAssertTrue(mixed.stderr.contains("alien: \"Alice was beginning"), mixed.stderr)
        XCTAssertFalse(mixed.stderr.contains("kept: "), mixed.stderr)
    }
}
