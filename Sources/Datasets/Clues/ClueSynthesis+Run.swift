import Foundation
import Tokenizers

/// A resumable synthesis run at scale (`data synth-clues`): the output JSONL grows as examples are accepted (whole
/// lines, one write each), and `OUT.progress.json` — rewritten atomically after each context — records the contexts
/// done, where the output ended after each, and their counts. A run killed at any moment (SIGINT, SIGKILL, a full
/// disk) resumes from the last context the progress file records: the output is cut back to that context's end,
/// which drops a torn trailing line and the lines of a context cut off half-way, and the remaining contexts follow.
extension ClueSynthesis {
    /// Counts of a run, or of one context of it.
    public struct Tally: Codable, Sendable, Equatable {
        public var contexts = 0
        /// Contexts that gave at least one example.
        public var contextsWithExamples = 0
        /// Passages whose question was accepted.
        public var accepted = 0
        /// JSONL example lines (recall, answer, rewrite).
        public var examples = 0
        /// Rejected questions by `Rejection.key`.
        public var rejected: [String: Int] = [:]
        /// Accepted questions whose vaguer version was unusable.
        public var vagueRejected = 0

        public init() {}

        public var rejectedTotal: Int { rejected.values.reduce(0, +) }

        public mutating func add(_ other: Tally) {
            contexts += other.contexts
            contextsWithExamples += other.contextsWithExamples
            accepted += other.accepted
            examples += other.examples
            rejected.merge(other.rejected, uniquingKeysWith: +)
            vagueRejected += other.vagueRejected
        }

        mutating func count(_ event: Progress) {
            switch event {
            case .accepted: accepted += 1
            case .rejected(let why, _): rejected[why.key, default: 0] += 1
            case .vagueRejected: vagueRejected += 1
            }
        }
    }

    /// The progress file of a run (`OUT.progress.json`).
    public struct RunRecord: Codable, Sendable, Equatable {
        public static let formatName = "memorag.synth-clues.progress"

        /// One finished context, named by its document, its index among the document's contexts and its seed.
        public struct Done: Codable, Sendable, Equatable {
            public var source: String
            public var context: Int
            public var seed: UInt64
            /// The output's length in bytes once this context's lines were written.
            public var end: Int
            public var tally: Tally
        }

        public var format = RunRecord.formatName
        public var version = 1
        /// What decides the output (options, model, documents' sha256…); a resume must match it.
        public var settings: [String: String]
        /// Contexts of the whole run.
        public var total: Int
        public var done: [Done]

        public var tally: Tally { done.reduce(into: Tally()) { $0.add($1.tally) } }
    }

    public enum RunEvent: Sendable {
        /// A resume found `done` of `total` contexts finished and cut `droppedBytes` of unrecorded output.
        case resumed(done: Int, total: Int, droppedBytes: Int)
        case question(Progress)
        /// A context finished; `tally` counts the whole run so far (resumed contexts included), `session` this
        /// session's share.
        case contextDone(source: String, context: Int, done: Int, total: Int, tally: Tally, session: Tally)
    }

    public struct RunResult: Sendable, Equatable {
        /// The whole output (resumed contexts included).
        public var tally: Tally
        /// This session's share.
        public var session: Tally
        public var total: Int
    }

    /// Where the progress file of `output` lives.
    public static func progressFile(for output: URL) -> URL {
        URL(fileURLWithPath: output.path + ".progress.json")
    }

    /// Runs the synthesis over `contexts`, appending to `output` as it goes (see the extension's comment). Without
    /// `resume` the output starts empty, unless an unfinished run's progress file is there (refused, so hours of
    /// work are not overwritten by mistake). With `resume` an existing progress file must hold the same `settings`
    /// (else the error names each difference) and a prefix of `contexts`; without one the run starts afresh, so one
    /// command line both starts and continues a run.
    public static func run(contexts: [Context], options: Options, prompts: PromptSet, output: URL,
                           settings: [String: String], resume: Bool, write: QuestionWriter,
                           progress: (RunEvent) -> Void = { _ in }) throws -> RunResult {
        let recordURL = progressFile(for: output)
        var record = RunRecord(settings: settings, total: contexts.count, done: [])
        var start = 0
        if let previous = try readRecord(recordURL) {
            guard resume || previous.done.count == previous.total else {
                throw DataError.invalid(path: output.path, reason: "holds an unfinished run (\(previous.done.count) of "
                    + "\(previous.total) contexts done); pass --resume to continue it, or delete \(recordURL.lastPathComponent) "
                    + "to start again")
            }
            if resume {
                try checkResumable(previous, settings: settings, contexts: contexts, path: recordURL.path)
                record.done = previous.done
                let dropped = try cutOutput(output, to: &record.done)
                start = record.done.count
                progress(.resumed(done: start, total: contexts.count, droppedBytes: dropped))
            }
        } else if resume, let size = fileSize(output), size > 0 {
            throw DataError.invalid(path: output.path, reason: "exists but has no \(recordURL.lastPathComponent), so it "
                + "was not written by a resumable run; move it away or choose another --out")
        }
        if start == 0 {
            guard FileManager.default.createFile(atPath: output.path, contents: nil) else {
                throw DataError.writeFailed(path: output.path, reason: "cannot create it")
            }
        }
        try writeRecord(record, to: recordURL)

        let handle: FileHandle
        do { handle = try FileHandle(forWritingTo: output) } catch {
            throw DataError.writeFailed(path: output.path, reason: error.localizedDescription)
        }
        defer { try? handle.close() }
        var offset = try handle.seekToEnd()
        var session = Tally()
        var options = options
        for (i, context) in contexts.enumerated().dropFirst(start) {
            options.seed = context.seed
            var tally = Tally()
            tally.contexts = 1
            var wroteContext = false
            _ = try synthesize(document: context.text, source: context.source, options: options) { messages, r in
                try write(messages, context.seed &* 1_000_003 &+ UInt64(r))
            } progress: { event in
                tally.count(event)
                progress(.question(event))
            } accept: { example in
                var lines = try exampleLines(example, document: context.text, source: context.source, prompts: prompts)
                tally.examples += lines.count
                if !wroteContext { lines.insert(try contextLine(document: context.text, source: context.source), at: 0) }
                wroteContext = true
                let bytes = Data((lines.joined(separator: "\n") + "\n").utf8)
                do { try handle.write(contentsOf: bytes) } catch {
                    throw DataError.writeFailed(path: output.path, reason: error.localizedDescription)
                }
                offset += UInt64(bytes.count)
            }
            if wroteContext { tally.contextsWithExamples = 1 }
            do { try handle.synchronize() } catch {
                throw DataError.writeFailed(path: output.path, reason: error.localizedDescription)
            }
            record.done.append(RunRecord.Done(source: context.source, context: context.index, seed: context.seed,
                                              end: Int(offset), tally: tally))
            try writeRecord(record, to: recordURL)
            session.add(tally)
            progress(.contextDone(source: context.source, context: context.index, done: i + 1, total: contexts.count,
                                  tally: record.tally, session: session))
        }
        return RunResult(tally: record.tally, session: session, total: contexts.count)
    }

    static func readRecord(_ url: URL) throws -> RunRecord? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        let record: RunRecord
        do { record = try JSONDecoder().decode(RunRecord.self, from: data) } catch {
            throw DataError.invalid(path: url.path, reason: "not a synth-clues progress file (\(error.localizedDescription))")
        }
        guard record.format == RunRecord.formatName, record.version == 1 else {
            throw DataError.invalid(path: url.path, reason: "format \(record.format) version \(record.version) is not "
                + "\(RunRecord.formatName) version 1")
        }
        return record
    }

    static func writeRecord(_ record: RunRecord, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { try encoder.encode(record).write(to: url, options: .atomic) } catch {
            throw DataError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Refuses a resume whose settings or contexts differ from the recorded run's, naming each difference.
    static func checkResumable(_ record: RunRecord, settings: [String: String], contexts: [Context], path: String) throws {
        let keys = Set(record.settings.keys).union(settings.keys).sorted()
        let differences = keys.compactMap { key -> String? in
            let (was, now) = (record.settings[key], settings[key])
            guard was != now else { return nil }
            return "\(key) was \(was.map { "'\($0)'" } ?? "unset"), now \(now.map { "'\($0)'" } ?? "unset")"
        }
        guard differences.isEmpty else {
            throw DataError.invalid(path: path, reason: "cannot resume with other options: " + differences.joined(separator: "; ")
                + " (use the first run's options, or another --out)")
        }
        guard record.total == contexts.count, record.done.count <= contexts.count else {
            throw DataError.invalid(path: path, reason: "the run had \(record.total) contexts, these options give "
                + "\(contexts.count)")
        }
        for (done, context) in zip(record.done, contexts)
        where done.source != context.source || done.context != context.index || done.seed != context.seed {
            throw DataError.invalid(path: path, reason: "context \(done.context) of \(done.source) (seed \(done.seed)) was "
                + "done where this run has context \(context.index) of \(context.source) (seed \(context.seed))")
        }
    }

    /// Cuts `output` back to the end of the last recorded context whose lines it still holds whole, dropping later
    /// contexts from `done`; returns the bytes dropped.
    static func cutOutput(_ output: URL, to done: inout [RunRecord.Done]) throws -> Int {
        let size = fileSize(output) ?? 0
        while let last = done.last, last.end > size { done.removeLast() }
        let kept = done.last?.end ?? 0
        if fileSize(output) == nil {
            guard FileManager.default.createFile(atPath: output.path, contents: nil) else {
                throw DataError.writeFailed(path: output.path, reason: "cannot create it")
            }
        }
        guard truncate(output.path, off_t(kept)) == 0 else {
            throw DataError.writeFailed(path: output.path, reason: "cannot cut it to \(kept) bytes: "
                + String(cString: strerror(errno)))
        }
        return size - kept
    }

    static func fileSize(_ url: URL) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue
    }
}
