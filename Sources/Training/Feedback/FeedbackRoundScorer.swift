import Datasets
import Foundation
import Retrieval
import Tokenizers
import Torch

/// One round's scoring in its directory (`OUTPUT_DIR/feedback/round-R/`), resumable question by question:
/// - `scores.jsonl`: a header naming the settings, then one line per question scored, appended and flushed as it
///   is scored (a killed run continues after the last whole line; a resume with other settings is refused);
/// - `kept.jsonl`: the kept questions as clue SFT data (`data sft` format: the document, then the example with the
///   best clue set as reply), and `kept.h5`, its SFT store;
/// - with method `dpo`, `rejected.jsonl` and `rejected.h5` besides them: the same examples in the same order with
///   the worst clue set as reply (pair i is example i of both stores);
/// - `summary.json`, written last: the round is complete when it exists.
struct FeedbackRoundScorer {
    let directory: URL
    var scores: URL { directory.appendingPathComponent("scores.jsonl") }
    var keptJSONL: URL { directory.appendingPathComponent("kept.jsonl") }
    var keptStore: URL { directory.appendingPathComponent("kept.h5") }
    var rejectedJSONL: URL { directory.appendingPathComponent("rejected.jsonl") }
    var rejectedStore: URL { directory.appendingPathComponent("rejected.h5") }
    var summaryURL: URL { directory.appendingPathComponent("summary.json") }

    /// A line of scores.jsonl.
    struct Scored: Codable, Equatable {
        /// Index into the clue data's questions.
        var question: Int
        var text: String
        var baseline: Double
        /// Per sampled clue set (none when the question alone already finds the evidence).
        var gains: [Double]
        /// The best set's clue lines (the reply trained on when kept).
        var clues: [String]
        /// The worst set's clue lines (the rejected reply of a DPO pair); absent where nothing was sampled, and in
        /// rounds scored before DPO existed.
        var rejected: [String]?
        var kept: Bool
    }

    struct Header: Codable, Equatable {
        var format = "memorag.clue-feedback.scores"
        var version = 1
        var settings: [String: String]
    }

    /// What the round needs besides its questions.
    struct Context {
        var set: ClueQuestionSet
        var settings: Recipe.Feedback
        var prompts: PromptSet
        var embedder: Embedder
        var writer: ClueReplyWriting
        var tokenizer: any Tokenizer
        var template: ChatTemplate
        var tokenizerSHA256: String
    }

    /// The completed round's summary, if it is complete (and was scored with `header`'s settings).
    func completed(header: Header) throws -> ClueFeedbackRound? {
        guard let data = FileManager.default.contents(atPath: summaryURL.path) else { return nil }
        let first = FileManager.default.contents(atPath: scores.path).flatMap { $0.split(separator: 0x0A).first }
        try check(first.map { Data($0) }, against: header)
        do { return try JSONDecoder().decode(ClueFeedbackRound.self, from: data) } catch {
            throw TrainingError.checkpoint(path: summaryURL.path, reason: "not a clue-feedback round summary (\(error))")
        }
    }

    /// Refuses a scores file whose header is not `header`, naming the settings that differ.
    private func check(_ line: Data?, against header: Header) throws {
        guard let line, let saved = try? JSONDecoder().decode(Header.self, from: line),
              saved.format == header.format, saved.version == header.version else {
            throw TrainingError.checkpoint(path: scores.path, reason: "not a clue-feedback scores file")
        }
        guard saved.settings == header.settings else {
            let changed = Set(saved.settings.keys).union(header.settings.keys).sorted()
                .filter { saved.settings[$0] != header.settings[$0] }
                .map { "\($0): \(saved.settings[$0] ?? "absent") → \(header.settings[$0] ?? "absent")" }
            throw TrainingError.checkpoint(path: scores.path, reason: "scored with other settings (\(changed.joined(separator: ", "))); "
                                           + "restore them, or delete \(directory.path) to score the round again")
        }
    }

    /// Scores `questions` (indices into the clue data) in order, continuing a partial scores.jsonl, then writes the
    /// kept examples, their store and the summary. `seed(question, sample)` seeds each clue set's sampling.
    func run(round: Int, rounds: Int, step: Int, questions: [Int], header: Header, context c: Context,
             seed: (Int, Int) -> UInt64, progress: (ClueFeedbackProgress) throws -> Void) throws -> ClueFeedbackRound {
        let started = ContinuousClock.now
        var done = try resume(header: header)
        guard done.count <= questions.count, zip(done, questions).allSatisfy({ $0.question == $1 }) else {
            throw TrainingError.checkpoint(path: scores.path, reason: "its questions are not this round's; delete "
                                           + "\(directory.path) to score the round again")
        }
        let handle = try FileHandle(forWritingTo: scores)
        defer { try? handle.close() }
        try handle.seekToEnd()
        c.writer.startRound()
        var passages: [String: FeedbackPassages] = [:]
        func report() throws {
            let kept = done.filter(\.kept)
            try progress(ClueFeedbackProgress(round: round, rounds: rounds, scored: done.count, total: questions.count,
                                              eligible: done.filter { !$0.gains.isEmpty }.count, kept: kept.count,
                                              meanKeptGain: Self.mean(kept.map { $0.gains.max() ?? 0 })))
        }
        for index in questions.dropFirst(done.count) {
            let question = c.set.questions[index]
            guard let document = c.set.documents[question.contextID] else {
                throw TrainingDataError.tooLittleData("question \(index) has no document")
            }
            if passages[question.contextID] == nil {
                passages = [:]  // questions come grouped by document: one index at a time
                passages[question.contextID] = try FeedbackPassages(document: document.text, source: document.source,
                                                                    embedder: c.embedder)
            }
            let scored = try score(question, index: index, document: document.text,
                                   passages: passages[question.contextID]!, context: c,
                                   seeds: (0..<c.settings.samples).map { seed(index, $0) })
            var line = try Self.encoder().encode(scored)
            line.append(0x0A)
            try handle.write(contentsOf: line)
            try handle.synchronize()
            done.append(scored)
            try report()
        }
        return try finish(round: round, step: step, done: done, context: c, seconds: (ContinuousClock.now - started).seconds)
    }

    /// One question: the question's own ranking, then (when it misses the evidence) each sampled clue set's.
    func score(_ question: ClueQuestion, index: Int, document: String, passages: FeedbackPassages, context c: Context,
               seeds: [UInt64]) throws -> Scored {
        let s = c.settings
        let evidence = passages.evidence(question.evidence, in: document)
        guard !evidence.isEmpty else {
            throw TrainingDataError.unreadable(path: "clue data", reason: "question \(index)'s evidence is not in its document")
        }
        let own = try passages.search([question.question], depth: max(s.depth, s.topK))[0]
        let baseline = FeedbackScore.reciprocalRank(of: evidence, in: own, topK: s.topK)
        guard baseline == 0 else {
            return Scored(question: index, text: question.question, baseline: baseline, gains: [], clues: [], rejected: nil,
                          kept: false)
        }
        var gains: [Double] = [], sets: [[String]] = []
        for reply in try c.writer.replies(contextID: question.contextID, document: document, question: question.question,
                                          seeds: seeds) {
            var seen: Set<String> = []
            let lines = ClueLines.lines(of: reply, echoing: c.prompts.memoryReply, question: question.question)
                .filter { seen.insert($0.lowercased()).inserted }
            let result = FeedbackScore.score(question: own, clues: try passages.search(lines, depth: s.depth),
                                             evidence: evidence, queryWeight: s.queryWeight, depth: s.depth, topK: s.topK)
            gains.append(result.gain)
            sets.append(lines)
        }
        // The first of the best and of the worst on ties: the lowest seed index, so the choice does not depend on
        // float noise.
        let best = gains.indices.max { gains[$0] < gains[$1] || (gains[$0] == gains[$1] && $0 > $1) }!
        let worst = gains.indices.min { gains[$0] < gains[$1] || (gains[$0] == gains[$1] && $0 < $1) }!
        let kept = gains[best] > s.minGain && (s.method != .dpo || gains[worst] < gains[best])
        return Scored(question: index, text: question.question, baseline: baseline, gains: gains, clues: sets[best],
                      rejected: sets[worst], kept: kept)
    }

    /// The scored lines so far, after the header (written now when the file is new); a partial last line (a kill
    /// mid-write) is cut off.
    private func resume(header: Header) throws -> [Scored] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        guard let data = FileManager.default.contents(atPath: scores.path), !data.isEmpty else {
            var line = try Self.encoder().encode(header)
            line.append(0x0A)
            try DurableFile.write(line, to: scores)
            return []
        }
        let whole = data.lastIndex(of: 0x0A).map { data.startIndex..<($0 + 1) } ?? data.startIndex..<data.startIndex
        if whole.count < data.count {
            let handle = try FileHandle(forWritingTo: scores)
            try handle.truncate(atOffset: UInt64(whole.count))
            try handle.close()
        }
        let lines = data[whole].split(separator: 0x0A)
        try check(lines.first.map { Data($0) }, against: header)
        return try lines.dropFirst().map { try JSONDecoder().decode(Scored.self, from: Data($0)) }
    }

    /// kept.jsonl, kept.h5 (and with DPO rejected.jsonl, rejected.h5) and summary.json from the scored questions.
    private func finish(round: Int, step: Int, done: [Scored], context c: Context, seconds: Double) throws
        -> ClueFeedbackRound
    {
        var lines: [String] = [], rejectedLines: [String] = [], declared: Set<String> = []
        for scored in done where scored.kept {
            let question = c.set.questions[scored.question]
            let document = c.set.documents[question.contextID]!
            if declared.insert(question.contextID).inserted {
                let line = try ClueSynthesis.contextLine(document: document.text, source: document.source)
                lines.append(line)
                rejectedLines.append(line)
            }
            func example(_ clues: [String]) throws -> String {
                try ClueSynthesis.exampleLine(task: c.settings.clueTask, question: question.question,
                                              target: clues.joined(separator: "\n"), document: document.text,
                                              source: document.source, prompts: c.prompts)
            }
            lines.append(try example(scored.clues))
            if c.settings.method == .dpo {
                guard let rejected = scored.rejected else {
                    throw TrainingError.checkpoint(path: scores.path, reason: "question \(scored.question) has no worst "
                                                   + "clue set (scored before DPO existed); delete \(directory.path)")
                }
                rejectedLines.append(try example(rejected))
            }
        }
        let eligible = done.filter { !$0.gains.isEmpty }, kept = done.filter(\.kept)
        let summary = ClueFeedbackRound(
            round: round, step: step, questions: done.count, eligible: eligible.count, kept: kept.count,
            meanBestGain: Self.mean(eligible.map { $0.gains.max()! }),
            meanSampleGain: Self.mean(eligible.flatMap(\.gains)),
            meanKeptGain: Self.mean(kept.map { $0.gains.max()! }), scoringSeconds: seconds)
        if !lines.isEmpty {
            try DurableFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: keptJSONL)
            _ = try SFTBuilder.build(input: keptJSONL, tokenizer: c.tokenizer, template: c.template,
                                     tokenizerSHA256: c.tokenizerSHA256, output: keptStore)
            if c.settings.method == .dpo {
                try DurableFile.write(Data((rejectedLines.joined(separator: "\n") + "\n").utf8), to: rejectedJSONL)
                _ = try SFTBuilder.build(input: rejectedJSONL, tokenizer: c.tokenizer, template: c.template,
                                         tokenizerSHA256: c.tokenizerSHA256, output: rejectedStore)
            }
        }
        try DurableFile.write(try Self.encoder().encode(summary), to: summaryURL)
        return summary
    }

    static func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }

    /// Sorted keys: lines that compare and diff byte for byte.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
