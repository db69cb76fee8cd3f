import FakeOpenAI
import Foundation
import TestSupport
import TinyModels
import XCTest

/// `memorag data synth-clues --generator openai` through the built binary against a loopback chat-completions
/// server that answers canned questions, and the resumable run: torn output, other options, SIGINT.
final class SynthCluesCommandTests: XCTestCase {
    /// Passages of 120–700 characters (what synth-clues picks) with the reply each gets; the comments say why a
    /// question is filtered.
    static let canned: [(passage: String, reply: String)] = [
        ("The lighthouse keeper rowed to the mainland every Tuesday to buy oil, bread and newspapers, and came back "
            + "before the evening tide.",
         "On which weekday did the keeper go ashore for supplies?"),
        ("In the winter of the great storm the lamp failed for three nights, and two ships ran aground on the reef "
            + "below the northern cliffs.",
         "Did the lamp fail during the storm?"),  // yes/no
        ("His daughter kept a logbook of every ship that passed, noting its flag, its cargo and the hour it was seen "
            + "from the gallery.",
         "Here is a question about the logbook:\nWhat did the daughter write down?"),  // cut at the newline
        ("A gull with one leg came to the kitchen window each morning, and the daughter fed it crusts of bread from "
            + "the keeper's own table.",
         "Who fed a gull with one leg at the kitchen window each morning?"),  // one copied run
        ("The cook of the schooner Albatross traded salted fish for lamp oil and told the children stories of the "
            + "southern seas and their whales.",
         "What did the schooner's cook trade for oil?"),
    ]
    static let vague = "What happened on that day?"

    /// The fake's answer: the canned question of the passage asked about, or the vaguer question.
    static func reply(_ body: [String: Any]) -> String? {
        guard let last = (body["messages"] as? [[String: Any]])?.last?["content"] as? String else { return nil }
        if last.hasPrefix("Rewrite") { return vague }
        return canned.first { last.contains($0.passage) }?.reply
    }

    struct Setup {
        let dir: URL
        let documents: [String]
        let memorag: URL
        let tokenizerModel: String

        func out(_ name: String) -> String { dir.appendingPathComponent(name).path }
    }

    /// Two documents in a fresh directory, removed after the test.
    func setup() throws -> Setup {
        guard let memorag = builtExecutable("memorag") else { throw XCTSkip("the memorag binary is not built") }
        let dir = try temporaryDirectory("synth-clues")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let texts = [Self.canned[0..<3], Self.canned[3...]].map { $0.map(\.passage).joined(separator: "\n\n") }
        var documents: [String] = []
        for (i, text) in texts.enumerated() {
            let url = dir.appendingPathComponent("doc\(i).txt")
            try Data(text.utf8).write(to: url)
            documents.append(url.path)
        }
        return Setup(dir: dir, documents: documents, memorag: memorag,
                     tokenizerModel: try TinyModels.shared().memoryModel.path)
    }

    /// A fake API answering `reply`, stopped after the test.
    func startServer(delay: Double = 0) async throws -> FakeOpenAIServer {
        let server = FakeOpenAIServer(delay: delay, reply: Self.reply)
        try await server.start()
        addTeardownBlock { server.stop() }
        return server
    }

    func api(_ server: FakeOpenAIServer) -> [String] {
        ["--generator", "openai", "--base-url", server.baseURL, "--api-model", "fake", "--api-backoff", "0.05"]
    }

    /// Runs the binary off the cooperative pool (the fake server answers on it meanwhile).
    func memorag(_ s: Setup, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runProcess(s.memorag, ["data", "synth-clues"] + arguments) })
            }
        }
    }

    func lines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testOpenAIGeneratorWritesTheExpectedExamplesAndSendsMessagesAndSeeds() async throws {
        let s = try setup()
        let server = try await startServer()
        let out = s.out("clues.jsonl")
        let run = try await memorag(s, ["--out", out, "--context-tokens", "0", "--passages", "4"] + api(server)
                                        + s.documents)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("[2/2 contexts] 2 accepted, 6 examples, 3 rejected (notAQuestion 1, "
                                          + "yesNoQuestion 1, copiedFromPassage 1)"), run.stderr)
        XCTAssertTrue(run.stdout.contains("6 examples over 2 context(s)"), run.stdout)

        let written = try lines(out)
        XCTAssertEqual(written.count, 8, "per document: its context, then recall, answer and rewrite")
        XCTAssertEqual(written.map { $0["task"] as? String ?? "context" },
                       ["context", "recall", "answer", "rewrite", "context", "recall", "answer", "rewrite"])
        func target(_ line: [String: Any]) -> String? {
            ((line["conversations"] as? [[String: Any]])?.last?["content"]) as? String
        }
        XCTAssertEqual(target(written[1]), Self.canned[0].passage, "the recall target is the passage")
        XCTAssertEqual(target(written[3]), Self.canned[0].reply, "the rewrite target is the question")
        XCTAssertEqual(target(written[5]), Self.canned[4].passage)
        XCTAssertEqual(written[0]["context"] as? String, Self.canned[0..<3].map(\.passage).joined(separator: "\n\n"))

        // The requests: the chat messages (worked example, then the passage), the sampling seed of each request
        // (context seed · 1000003 + request; document d's context seed is d · 7919), temperature and length.
        let bodies = try server.bodies.value.map { try XCTUnwrap(JSONSerialization.jsonObject(with: $0) as? [String: Any]) }
        XCTAssertEqual(bodies.count, 3 + 1 + 2 + 1, "a question per passage, a vaguer one per accepted question")
        XCTAssertEqual(bodies.compactMap { $0["seed"] as? Int }, [0, 1, 2, 3] + (0..<3).map { 7919 * 1_000_003 + $0 })
        for body in bodies {
            XCTAssertEqual(body["model"] as? String, "fake")
            XCTAssertEqual(body["temperature"] as? Double, 0.7)
            XCTAssertEqual(body["max_tokens"] as? Int, 48)
            let messages = try XCTUnwrap(body["messages"] as? [[String: Any]])
            XCTAssertEqual(messages.map { $0["role"] as? String }, ["user", "assistant", "user"])
        }
        let asked = bodies.compactMap { (($0["messages"] as? [[String: Any]])?.last?["content"]) as? String }
        XCTAssertEqual(Set(Self.canned.map(\.passage)), Set(Self.canned.map(\.passage).filter { p in
            asked.contains { $0.contains(p) }
        }), "every passage was asked about")
    }

    /// Nothing listens on loopback port 9: the connection is refused, retried with the given back-off, and the error
    /// names the endpoint and the problem, within seconds.
    func testARefusedConnectionIsAClearErrorAfterTheRetries() async throws {
        let s = try setup()
        let start = Date()
        let run = try await memorag(s, ["--out", s.out("clues.jsonl"), "--context-tokens", "0", "--generator", "openai",
                                        "--base-url", "http://127.0.0.1:9/v1", "--api-model", "m",
                                        "--api-retries", "2", "--api-backoff", "0.05"] + s.documents)
        XCTAssertEqual(run.status, 1, run.stdout)
        XCTAssertTrue(run.stderr.contains("error: http://127.0.0.1:9/v1/chat/completions: cannot connect ("), run.stderr)
        XCTAssertTrue(run.stderr.lowercased().contains("refused"), run.stderr)
        XCTAssertTrue(run.stderr.contains("after 3 attempts"), run.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }

    /// Contexts cut with the tiny model's tokenizer; the output cut mid-line and the last context taken out of the
    /// progress file, as a kill between the two writes leaves them: the resume ends with the uninterrupted file.
    /// Other options are refused, naming them.
    func testResumeGivesTheUninterruptedFileAndRefusesOtherOptions() async throws {
        let s = try setup()
        let server = try await startServer()
        let options = ["--model", s.tokenizerModel, "--context-tokens", "80"] + api(server) + s.documents
        let whole = s.out("whole.jsonl"), out = s.out("clues.jsonl")
        let first = try await memorag(s, ["--out", whole] + options)
        XCTAssertEqual(first.status, 0, first.stderr)
        let contexts = first.stderr.components(separatedBy: "\n").filter { $0.hasSuffix("context(s)") }
        XCTAssertEqual(contexts.count, 2, first.stderr)
        XCTAssertFalse(first.stderr.contains(": 1 context(s)"), "documents cut into several contexts: \(first.stderr)")
        let interrupted = try await memorag(s, ["--out", out] + options)
        XCTAssertEqual(interrupted.status, 0, interrupted.stderr)

        let progress = URL(fileURLWithPath: out + ".progress.json")
        var record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: progress)) as? [String: Any])
        var done = try XCTUnwrap(record["done"] as? [[String: Any]])
        let ends = done.map { $0["end"] as! Int }
        let lastStart = ends.dropLast().last ?? 0
        XCTAssertGreaterThan(ends.last!, lastStart, "the last context wrote examples")
        done.removeLast()
        record["done"] = done
        try JSONSerialization.data(withJSONObject: record).write(to: progress)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        try bytes.prefix(lastStart + (ends.last! - lastStart) / 2).write(to: URL(fileURLWithPath: out))

        let resumed = try await memorag(s, ["--out", out, "--resume"] + options)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming: \(done.count) of \(ends.count) contexts done, "), resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: URL(fileURLWithPath: whole)))

        let other = try await memorag(s, ["--out", out, "--resume", "--passages", "2"] + options)
        XCTAssertEqual(other.status, 1, other.stdout)
        XCTAssertTrue(other.stderr.contains("cannot resume with other options: passages was '4', now '2'"), other.stderr)
    }

    /// SIGINT in the middle of a run (the API answers slowly) exits at once with 130, and `--resume` finishes the
    /// file an uninterrupted run writes.
    func testSIGINTLeavesAResumableFile() async throws {
        let s = try setup()
        let fast = try await startServer()
        let options = ["--context-tokens", "0", "--api-model", "fake", "--generator", "openai"] + s.documents
        let whole = s.out("whole.jsonl"), out = s.out("clues.jsonl")
        let first = try await memorag(s, ["--out", whole, "--base-url", fast.baseURL] + options)
        XCTAssertEqual(first.status, 0, first.stderr)

        let slow = try await startServer(delay: 0.5)
        let process = Process()
        process.executableURL = s.memorag
        process.arguments = ["data", "synth-clues", "--out", out, "--base-url", slow.baseURL] + options
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        let progress = out + ".progress.json"
        let deadline = Date().addingTimeInterval(60)
        func contextsDone() -> Int {
            guard let data = FileManager.default.contents(atPath: progress),
                  let record = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return 0 }
            return (record["done"] as? [Any])?.count ?? 0
        }
        while contextsDone() < 1, Date() < deadline, process.isRunning { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertEqual(contextsDone(), 1, "the first context is done, the second under way (4 + 3 requests of 0.5 s)")
        process.interrupt()
        process.waitUntilExit()
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 130, said)
        XCTAssertTrue(said.contains("interrupted: \(out) resumes; run the same command with --resume"), said)

        let resumed = try await memorag(s, ["--out", out, "--resume", "--base-url", fast.baseURL] + options)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming: 1 of 2 contexts done"), resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: URL(fileURLWithPath: whole)))
    }
}
