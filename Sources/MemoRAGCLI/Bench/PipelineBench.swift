import ArgumentParser
import Foundation
import MemoRAG

/// `memorag bench pipeline`: the whole pipeline on books — memorize (split into its stages), cache size, load time
/// in a fresh process, and ask latency over a set of questions.
struct PipelineBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Memorize books, then time load and ask (p50/p95); targets: load ≤ 0.3 s, ask p50 ≤ 3 s.")

    @Option(name: .customLong("book"), help: "UTF-8 books (default: Examples/alice.txt).") var books: [String] = []
    @Option(help: "Questions per book (cycled from a built-in list of generic questions).") var questions = 20
    @Option(help: "Answer tokens per question.") var answerTokens = 64
    @Option(help: "Clue tokens per recall/rewrite.") var clueTokens = 64
    @Option(help: "Where the caches go (default: a temporary dir, removed afterwards).") var workDir: String?
    @Flag(help: "With --work-dir: load a book's cache from an earlier run instead of memorizing it again.") var reuse = false
    @OptionGroup var options: PipelineOptions
    @OptionGroup var generatorOptions: GeneratorOptions

    static let genericQuestions = [
        "Who is the main character and what do they want?", "Where does the story begin?",
        "What is the first problem the main character meets?", "Who helps the main character?",
        "What is the most surprising event in the story?", "How does the story end?",
        "Which places are visited in the story?", "What does the main character learn?",
        "Who is the antagonist and why?", "What happens in the middle of the book?",
    ]

    func run() async throws {
        let paths = books.isEmpty ? [ModelPaths.demoBook.path] : books
        let work = URL(fileURLWithPath: workDir ?? NSTemporaryDirectory() + "memorag-bench-\(UUID().uuidString.prefix(8))")
        defer { if workDir == nil { try? FileManager.default.removeItem(at: work) } }
        for path in paths {
            let text = try InputText.read(path)
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let cache = work.appendingPathComponent(name)
            var configuration = try options.configuration()
            configuration.clueTokens = clueTokens
            configuration.answerTokens = answerTokens
            options.answeringAsThePeer(&configuration)
            configuration.generator = try generatorOptions.choice()
            if reuse, workDir != nil, FileManager.default.fileExists(atPath: cache.appendingPathComponent("manifest.json").path) {
                print("\n\(name): memorize skipped (--reuse: the cache of an earlier run)")
            } else {
                let rag = try MemoRAG(configuration: configuration)
                let report = try await rag.memorize(text, name: name, cacheDir: cache)
                let s = report.seconds
                print("\n\(name): \(report.tokens) tokens, ratio \(report.ratio.map(String.init) ?? "-"), "
                    + "\(report.chunks) passages, cache \(String(format: "%.1f", Double(report.cacheBytes) / 1e6)) MB")
                print(String(format: "  memorize %.1f s: compression %.1f s (%.0f tokens/s), chunking %.2f s, embedding %.1f s "
                             + "(%.1f passages/s), indexing %.3f s, writing %.2f s", s.total, s.compression,
                             Double(report.tokens) / max(s.compression, 1e-9), s.chunking, s.embedding,
                             Double(report.chunks) / max(s.embedding, 1e-9), s.indexing, s.writing))
            }

            // Load as a new process would: fresh pipeline object, models already in memory are not the point.
            let fresh = try MemoRAG(configuration: configuration)
            var loads: [Double] = []
            for _ in 0..<5 {
                let clock = ContinuousClock(), start = clock.now
                try await fresh.load(cacheDir: cache)
                loads.append((clock.now - start).seconds)
            }
            print(String(format: "  load: min %.3f s, median %.3f s (target ≤ 0.3 s)", loads.min()!, median(loads)))

            var latencies: [Double] = [], recall: [Double] = [], generate: [Double] = []
            for i in 0..<questions {
                let q = Self.genericQuestions[i % Self.genericQuestions.count]
                let result = try await fresh.ask(q)
                latencies.append(result.timings.total)
                recall.append(result.timings.recall)
                generate.append(result.timings.generate)
            }
            print(String(format: "  ask over %d questions (%d clue + %d answer tokens max, generator %@): p50 %.2f s, "
                         + "p95 %.2f s (target p50 ≤ 3 s); recall p50 %.2f s, answer p50 %.2f s", questions, clueTokens,
                         answerTokens, generatorOptions.generator.rawValue, median(latencies), percentile95(latencies),
                         median(recall), median(generate)))
        }
    }
}

private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

private func percentile95(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]
}
