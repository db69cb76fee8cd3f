import Foundation
import TestSupport
import Tokenizers
import XCTest

@testable import Datasets

/// `ClueSynthesis.run`: the output grows as examples are accepted, the progress file records the contexts done, and
/// a resume after any interruption ends with the file an uninterrupted run writes.
final class ClueSynthesisRunTests: XCTestCase {
    static let paragraphs = [
        "The lighthouse keeper rowed to the mainland every Tuesday to buy oil, bread and newspapers for the week.",
        "In the winter of the great storm the lamp failed for three nights, and two ships ran aground on the reef.",
        "His daughter kept a logbook of every ship that passed, noting its flag, its cargo and the hour it was seen.",
        "The cook of the schooner Albatross traded salted fish for lamp oil and told stories of the southern seas.",
        "A gull with one leg came to the kitchen window each morning, and the daughter fed it crusts of bread.",
        "When the inspector visited in spring, he measured the lens, counted the spare wicks and signed the book.",
    ]
    /// A scripted question per paragraph (one rejected as yes/no), and a vaguer one.
    static let questions = [
        "On which weekday did the keeper go ashore for supplies?",
        "Why did ships run aground during that winter?",
        "Did the daughter note the cargo of each ship?",
        "What did the schooner's cook trade for oil?",
        "What did the daughter feed the visiting gull?",
        "What did the inspector count during his visit?",
    ]

    var contexts: [ClueSynthesis.Context] {
        let documents = [Self.paragraphs[0..<3].joined(separator: "\n\n"), Self.paragraphs[3...].joined(separator: "\n\n")]
        return documents.enumerated().flatMap { d, text in
            ClueSynthesis.contexts(of: text, maxTokens: 45) { $0.split(separator: " ").count }.enumerated().map { c, piece in
                ClueSynthesis.Context(source: "doc\(d).txt", text: piece, seed: UInt64(d * 100 + c), index: c)
            }
        }
    }

    var options: ClueSynthesis.Options {
        var o = ClueSynthesis.Options()
        o.minPassageCharacters = 60
        return o
    }

    /// Replies by the passage asked about; throws at request `failAt` (counted from 0) to stand for a crash.
    final class Writer {
        var requests = 0
        var failAt: Int?
        struct Crash: Error {}

        func write(_ messages: [ChatMessage], _ seed: UInt64) throws -> String {
            defer { requests += 1 }
            if requests == failAt { throw Crash() }
            let text = messages.last!.content
            if text.hasPrefix("Rewrite") { return "What happened on that day?" }
            let i = ClueSynthesisRunTests.paragraphs.firstIndex { text.contains($0) }!
            return ClueSynthesisRunTests.questions[i]
        }
    }

    func run(_ output: URL, settings: [String: String] = ["passages": "16"], resume: Bool = false,
             writer: Writer = Writer(), events: ((ClueSynthesis.RunEvent) -> Void)? = nil) throws
        -> ClueSynthesis.RunResult
    {
        try ClueSynthesis.run(contexts: contexts, options: options, prompts: try PromptSet.builtIn("en"), output: output,
                              settings: settings, resume: resume, write: writer.write) { events?($0) }
    }

    func testARunWritesWhatTheBatchWritesAndRecordsEachContext() throws {
        let dir = try temporaryDirectory("clue-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("clues.jsonl")
        var done: [Int] = []
        let result = try run(out) { if case .contextDone(_, _, let n, _, _, _) = $0 { done.append(n) } }
        let batch = try ClueSynthesis.synthesize(contexts: contexts, options: options, prompts: try PromptSet.builtIn("en"),
                                                 write: Writer().write)
        XCTAssertEqual(try Data(contentsOf: out), batch.jsonl)
        XCTAssertEqual(contexts.map { $0.text.components(separatedBy: "\n\n").count }, [2, 1, 2, 1],
                       "paragraphs of 19, 22, 22 | 20, 21, 18 tokens under 45")
        XCTAssertEqual(done, Array(1...4))
        XCTAssertEqual(result.tally.accepted, 5)
        XCTAssertEqual(result.tally.rejected, ["yesNoQuestion": 1])
        XCTAssertEqual(result.tally.examples, 15)
        XCTAssertEqual(result.tally.contextsWithExamples, 3)
        XCTAssertEqual(result.session, result.tally)
        let record = try XCTUnwrap(ClueSynthesis.readRecord(ClueSynthesis.progressFile(for: out)))
        XCTAssertEqual(record.done.map(\.source), ["doc0.txt", "doc0.txt", "doc1.txt", "doc1.txt"])
        XCTAssertEqual(record.done.map(\.context), [0, 1, 0, 1])
        XCTAssertEqual(record.done.last?.end, try Data(contentsOf: out).count)

        // Resuming a finished run asks nothing and keeps the file.
        let idle = Writer()
        let again = try run(out, resume: true, writer: idle)
        XCTAssertEqual(idle.requests, 0)
        XCTAssertEqual(again.tally, result.tally)
        XCTAssertEqual(again.session, ClueSynthesis.Tally())
        XCTAssertEqual(try Data(contentsOf: out), batch.jsonl)
    }

    /// Torn output (cut mid-line) and a progress file missing the last context, as a kill between the two writes
    /// leaves them: the resume cuts back to the recorded end and redoes the last context.
    func testResumeAfterATornLineGivesTheUninterruptedFile() throws {
        let dir = try temporaryDirectory("clue-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("clues.jsonl")
        _ = try run(out)
        let whole = try Data(contentsOf: out)
        let progress = ClueSynthesis.progressFile(for: out)
        var record = try XCTUnwrap(ClueSynthesis.readRecord(progress))
        let last = record.done.removeLast()
        try ClueSynthesis.writeRecord(record, to: progress)
        let cut = (record.done.last!.end + last.end) / 2
        XCTAssertNotEqual(whole[cut - 1], UInt8(ascii: "\n"), "cut inside a line")
        try whole.prefix(cut).write(to: out)

        let writer = Writer()
        var resumed: (Int, Int, Int)?
        let result = try run(out, resume: true, writer: writer) {
            if case .resumed(let done, let total, let dropped) = $0 { resumed = (done, total, dropped) }
        }
        XCTAssertEqual(resumed?.0, 3)
        XCTAssertEqual(resumed?.1, 4)
        XCTAssertEqual(resumed?.2, cut - record.done.last!.end)
        XCTAssertEqual(writer.requests, 2, "the last context only: its question and its vaguer version")
        XCTAssertEqual(try Data(contentsOf: out), whole)
        XCTAssertEqual(result.session.contexts, 1)
        XCTAssertEqual(result.tally.examples, 15)
    }

    /// A run that dies in the middle of a context (after some of its lines were appended) resumes to the same file.
    func testResumeAfterACrashMidContextGivesTheUninterruptedFile() throws {
        let dir = try temporaryDirectory("clue-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let whole = dir.appendingPathComponent("whole.jsonl"), out = dir.appendingPathComponent("clues.jsonl")
        _ = try run(whole)
        let crashing = Writer()
        // Requests: context 0 takes 4 (two passages), context 1 one (rejected), context 2 two for its first passage;
        // the 8th is its second passage's question, after the first passage's lines went out.
        crashing.failAt = 7
        XCTAssertThrowsError(try run(out, writer: crashing))
        let record = try XCTUnwrap(ClueSynthesis.readRecord(ClueSynthesis.progressFile(for: out)))
        XCTAssertEqual(record.done.count, 2)
        XCTAssertGreaterThan(try Data(contentsOf: out).count, record.done.last!.end, "context 2 was half written")
        XCTAssertThrowsError(try run(out)) { error in
            XCTAssertTrue(error.localizedDescription.contains("unfinished run (2 of 4 contexts done)"),
                          error.localizedDescription)
        }
        _ = try run(out, resume: true)
        XCTAssertEqual(try Data(contentsOf: out), try Data(contentsOf: whole))
    }

    func testResumeWithOtherSettingsIsRefusedNamingTheDifferences() throws {
        let dir = try temporaryDirectory("clue-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("clues.jsonl")
        _ = try run(out, settings: ["passages": "16", "seed": "0"])
        XCTAssertThrowsError(try run(out, settings: ["passages": "8", "seed": "0", "model": "m"], resume: true)) { error in
            let message = error.localizedDescription
            XCTAssertTrue(message.contains("cannot resume with other options"), message)
            XCTAssertTrue(message.contains("passages was '16', now '8'"), message)
            XCTAssertTrue(message.contains("model was unset, now 'm'"), message)
            XCTAssertFalse(message.contains("seed"), message)
        }

        // An output without a progress file is not a resumable run's.
        let stray = dir.appendingPathComponent("stray.jsonl")
        try Data("{}\n".utf8).write(to: stray)
        XCTAssertThrowsError(try run(stray, resume: true)) { error in
            XCTAssertTrue(error.localizedDescription.contains("has no stray.jsonl.progress.json"), error.localizedDescription)
        }
        // With neither, --resume starts the run.
        let fresh = dir.appendingPathComponent("fresh.jsonl")
        XCTAssertEqual(try run(fresh, resume: true).tally.contexts, 4)
    }
}
