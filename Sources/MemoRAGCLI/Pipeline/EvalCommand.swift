import ArgumentParser
import Foundation
import MemoRAG

/// `memorag eval --cache DIR --questions Q.jsonl`: answer quality, and evidence recall beside the question-alone
/// baseline, over a question set.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a question set over a memorized cache dir: evidence recall against the question alone, answer F1 and ROUGE-L.",
        discussion: """
            Q.jsonl has one question per line: {"id": "...", "type": "single|multi-hop|vague|global", "question":
            "...", "answers": ["...", ...], "evidence": ["...", ...]} ("answer": "..." is accepted for one reference;
            "id" and "type" are optional; "evidence" — gold passages quoted from the text — enables the retrieval
            figures).

            Evidence recall is the share of gold passages found in the passages the generator read. Beside it, at the
            same passage count per question, the same share for: the question alone (searched as the pipeline
            searches, and through the dense retriever alone: plain RAG), the recalled spans alone and the surrogate
            questions alone; then recall@k curves for each, per question type, and the ask latency.
            """)

    @Option(help: "The cache dir written by memorize.") var cache: String
    @Option(help: "JSONL questions file.") var questions: String
    @Option(help: "Task: memorag (default) or qa.") var task: String = "memorag"
    @Option(help: "Write one JSON line per question (answer, scores, clues, evidence, retrieval comparison) here.")
    var out: String?
    @Option(help: "Write the summary (means per variant and type, curves, latency) as JSON here.") var report: String?
    @Option(parsing: .unconditional, help: "Maximum tokens per answer.") var maxNewTokens: Int?
    @OptionGroup var options: PipelineOptions
    @OptionGroup var generatorOptions: GeneratorOptions

    func validate() throws {
        if let maxNewTokens, maxNewTokens < 0 {
            throw ValidationError("--max-new-tokens must not be negative, got \(maxNewTokens)")
        }
    }

    func run() async throws {
        guard let kind = TaskKind(rawValue: task), kind != .summarize else {
            throw ValidationError("--task must be memorag or qa")
        }
        let items = try EvalQuestion.read(URL(fileURLWithPath: questions))
        var configuration = try options.configuration(manifest: try readManifest(cache))
        configuration.generator = try generatorOptions.choice()
        let rag = try MemoRAG(configuration: configuration)
        announcePrecision(rag.models)
        try await rag.load(cacheDir: URL(fileURLWithPath: cache))
        if kind == .memorag { try await checkEvidence(items, in: rag) }
        var rows: [EvalRow] = []
        let line = ProgressLine()
        for (i, item) in items.enumerated() {
            line.update("question \(i + 1)/\(items.count)", key: "\(i)")
            let result = try await rag.ask(item.question, task: kind, maxNewTokens: maxNewTokens)
            var comparison: RetrievalComparison?
            if kind == .memorag, let gold = item.evidence { comparison = try await rag.compareRetrieval(result, gold: gold) }
            rows.append(EvalRow(question: item, result: result, retrieval: comparison))
        }
        line.finish()
        if let out { try writeLines(rows, to: out) }
        let summary = EvalSummary(rows: rows, settings: settingsLine(configuration))
        if let report { try writeJSON(summary, to: report) }
        for (i, row) in rows.enumerated() {
            print(String(format: "%3d  %@  F1 %.3f  ROUGE-L %.3f%@  %@", i + 1, row.id, row.f1, row.rougeL,
                         row.retrieval.map { r in
                             String(format: "  evidence %.2f (question alone %.2f, %d passages)",
                                    r.recall[.pipeline] ?? 0, r.recall[.query] ?? 0, r.passages)
                         } ?? "",
                         String(row.question.prefix(60))))
        }
        print(summary.table)
    }

    /// Gold quotes the memorized text does not hold score zero recall whatever retrieves them: said before any
    /// question is asked, and an error when none of the set's quotes is there (a set for another document).
    private func checkEvidence(_ items: [EvalQuestion], in rag: MemoRAG) async throws {
        let quotes = items.flatMap { item in (item.evidence ?? []).map { (id: item.id ?? "?", quote: $0) } }
        guard !quotes.isEmpty else { return }
        let missing = Set(try await rag.evidenceMissingFromMemory(quotes.map(\.quote)))
        let absent = quotes.filter { missing.contains($0.quote) }
        guard absent.count < quotes.count else {
            throw MemoRAGError.invalidArgument("\(questions): none of its \(quotes.count) evidence quotes is in the text memorized in "
                + "\(cache): is the set written for another document?")
        }
        guard !absent.isEmpty else { return }
        var warning = "memorag: warning: \(absent.count) of the \(quotes.count) evidence quotes of \(questions) are in no "
            + "passage of \(cache), so no ranking can find them:\n"
        for (id, quote) in absent.prefix(5) {
            warning += "  \(id): \"\(quote.count > 80 ? quote.prefix(80) + "…" : quote)\"\n"
        }
        if absent.count > 5 { warning += "  … and \(absent.count - 5) more\n" }
        FileHandle.standardError.write(Data(warning.utf8))
    }

    private func settingsLine(_ configuration: MemoRAGConfiguration) -> String {
        "search \(configuration.search.rawValue), fusion \(configuration.fusion.rawValue)"
            + (configuration.fusion != .maxScore ? " (question weight \(configuration.queryWeight))" : "")
            + ", \(configuration.hits) passages per clue, evidence "
            + (configuration.evidenceTokens.map { $0 == .max ? "all" : "\($0) tokens" } ?? "default")
            + ", snippets " + (configuration.evidenceSnippets.map { $0 == .max ? "all" : "\($0)" } ?? "default")
    }

    private func writeLines(_ rows: [EvalRow], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let lines = try rows.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    private func writeJSON(_ summary: EvalSummary, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(summary).write(to: URL(fileURLWithPath: path))
    }
}
