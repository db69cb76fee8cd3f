import ArgumentParser
import Foundation
import MemoRAG

/// `memorag eval --cache DIR --questions Q.jsonl`: LongBench-style scores over a question set.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score answers over a memorized cache dir: token F1, ROUGE-L, and evidence recall.",
        discussion: """
            Q.jsonl has one question per line: {"question": "...", "answers": ["...", ...], "evidence": ["...", ...]}
            ("answer": "..." is accepted for one reference; "evidence" — gold passages quoted from the text — is
            optional and enables evidence recall: the share of gold passages found inside the retrieved evidence).
            """)

    @Option(help: "The cache dir written by memorize.") var cache: String
    @Option(help: "JSONL questions file.") var questions: String
    @Option(help: "Task: memorag (default) or qa.") var task: String = "memorag"
    @Option(help: "Write one JSON line per question (answer, scores, clues, evidence) here.") var out: String?
    @Option(help: "Maximum tokens per answer.") var maxNewTokens: Int?
    @OptionGroup var options: PipelineOptions
    @OptionGroup var generatorOptions: GeneratorOptions

    struct Question: Decodable {
        var question: String
        var answers: [String]?
        var answer: String?
        var evidence: [String]?
    }

    struct Row: Encodable {
        var question: String
        var answer: String
        var references: [String]
        var f1: Double
        var rouge_l: Double
        var evidence_recall: Double?
        var result: AskResult
    }

    func run() async throws {
        guard let kind = TaskKind(rawValue: task), kind != .summarize else {
            throw ValidationError("--task must be memorag or qa")
        }
        let items = try readQuestions()
        var configuration = try options.configuration(manifest: try readManifest(cache))
        configuration.generator = try generatorOptions.choice()
        let rag = try MemoRAG(configuration: configuration)
        announcePrecision(rag.models)
        try await rag.load(cacheDir: URL(fileURLWithPath: cache))
        var rows: [Row] = []
        let line = ProgressLine()
        for (i, item) in items.enumerated() {
            line.update("question \(i + 1)/\(items.count)", key: "\(i)")
            let result = try await rag.ask(item.question, task: kind, maxNewTokens: maxNewTokens)
            let references = item.answers ?? item.answer.map { [$0] } ?? []
            rows.append(Row(question: item.question, answer: result.answer, references: references,
                            f1: AnswerMetrics.best(result.answer, references: references, AnswerMetrics.f1),
                            rouge_l: AnswerMetrics.best(result.answer, references: references, AnswerMetrics.rougeL),
                            evidence_recall: item.evidence.map { EvidenceRecall.recall(gold: $0, found: result.evidence) },
                            result: result))
        }
        line.finish()
        if let out {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = try rows.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n")
            try Data((data + "\n").utf8).write(to: URL(fileURLWithPath: out))
        }
        for (i, row) in rows.enumerated() {
            print(String(format: "%3d  F1 %.3f  ROUGE-L %.3f%@  %@", i + 1, row.f1, row.rouge_l,
                         row.evidence_recall.map { String(format: "  evidence %.2f", $0) } ?? "",
                         String(row.question.prefix(60))))
        }
        let n = Double(max(rows.count, 1))
        let withEvidence = rows.compactMap(\.evidence_recall)
        print(String(format: "mean over %d questions: F1 %.3f, ROUGE-L %.3f%@, ask p50 %.1f s", rows.count,
                     rows.map(\.f1).reduce(0, +) / n, rows.map(\.rouge_l).reduce(0, +) / n,
                     withEvidence.isEmpty ? "" : String(format: ", evidence recall %.3f",
                                                         withEvidence.reduce(0, +) / Double(withEvidence.count)),
                     median(rows.map(\.result.timings.total))))
    }

    private func readQuestions() throws -> [Question] {
        let text = try InputText.read(questions)
        return try text.split(whereSeparator: \.isNewline).enumerated().compactMap { number, line in
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
            do { return try JSONDecoder().decode(Question.self, from: Data(line.utf8)) } catch {
                throw ValidationError("\(questions):\(number + 1): not a question object: \(error)")
            }
        }
    }
}

private func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    return values.sorted()[values.count / 2]
}
