import ArgumentParser
import Foundation
import MemoRAG

/// `memorag ask --cache DIR "question"`: answer from a memorized cache dir.
struct AskCommand: AsyncParsableCommand {
    enum TaskChoice: String, ExpressibleByArgument, CaseIterable { case memorag, qa, summarize, recall, rewrite }

    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Answer a question over a memorized cache dir: clues from memory, evidence, answer.",
        discussion: """
            Examples:
              memorag ask --cache /tmp/alice "Why does Alice follow the White Rabbit?"
              memorag ask --cache /tmp/alice --task summarize
              memorag ask --cache /tmp/alice --task recall "Who is at the tea party?"
              memorag ask --cache /tmp/alice "..." --generator openai --base-url https://api.deepseek.com/v1 --api-model deepseek-chat
            """)

    @Argument(help: "The question (not needed for --task summarize).") var question: String = ""
    @Option(help: "The cache dir written by memorize.") var cache: String
    @Option(help: "memorag (default), qa (memory only), summarize, recall or rewrite (print the clues).")
    var task: TaskChoice = .memorag
    @Option(parsing: .unconditional, help: "Maximum tokens of the answer (default: 32 for a copied answer, 256 for free text).") var maxNewTokens: Int?
    @Option(parsing: .unconditional, help: "Maximum tokens of each clue reply (recall, rewrite).") var clueTokens: Int?
    @Flag(help: "Print one JSON object: answer, clues, evidence (chunk ids, offsets, scores), timings.") var json = false
    @OptionGroup var options: PipelineOptions
    @OptionGroup var generatorOptions: GeneratorOptions

    func validate() throws {
        if let maxNewTokens, maxNewTokens < 0 {
            throw ValidationError("--max-new-tokens must not be negative, got \(maxNewTokens)")
        }
        if let clueTokens, clueTokens < 0 { throw ValidationError("--clue-tokens must not be negative, got \(clueTokens)") }
    }

    func run() async throws {
        let manifest = try readManifest(cache)
        var configuration = try options.configuration(manifest: manifest)
        configuration.generator = try generatorOptions.choice()
        if let clueTokens { configuration.clueTokens = clueTokens }
        let rag = try MemoRAG(configuration: configuration)
        announcePrecision(rag.models)
        try await rag.load(cacheDir: URL(fileURLWithPath: cache))
        switch task {
        case .recall, .rewrite:
            guard !question.isEmpty else { throw ValidationError("--task \(task.rawValue) needs a question") }
            let clues = task == .recall ? try await rag.recall(question) : try await rag.rewrite(question)
            if json {
                print(try encodeJSON(clues))
            } else {
                for clue in clues { print("- \(clue.text)") }
            }
            return
        case .memorag, .qa, .summarize:
            guard task == .summarize || !question.isEmpty else { throw ValidationError("give a question") }
            let kind = TaskKind(rawValue: task.rawValue)!
            // The "answer:" label goes out with the first piece of the answer, so a generator that fails (an API
            // error, say) leaves no label before the error, which goes to stderr alone.
            let label = AnswerLabel()
            var stream: (@Sendable (String) -> Void)?
            if !json {
                stream = { piece in FileHandle.standardOutput.write(Data((label.take() + piece).utf8)) }
            }
            let result: AskResult
            do {
                result = try await rag.ask(question, task: kind, maxNewTokens: maxNewTokens, onText: stream)
            } catch {
                if label.take().isEmpty { print("") }  // end a partly streamed answer's line before the error
                throw error
            }
            if json {
                print(try encodeJSON(result))
                return
            }
            print(label.take())
            if !result.clues.isEmpty {
                print("\nclues:")
                for clue in result.clues { print("  [\(clue.kind.rawValue)] \(clue.text)") }
            }
            if !result.evidence.isEmpty {
                print("\nevidence (document order):")
                for e in result.evidence {
                    let preview = e.text.replacingOccurrences(of: "\n", with: " ").prefix(160)
                    print(String(format: "  #%d %@ [%d..<%d] score %.3f: %@", e.chunkId, e.document, e.start, e.end,
                                 e.score, String(preview)))
                }
                if result.droppedEvidence > 0 {
                    print("  (\(result.droppedEvidence) more passages left out to fit the generator's positions)")
                }
            }
            if let snippets = result.snippets, !snippets.isEmpty {
                print("\nread by the generator (the snippets closest to the question):")
                for snippet in snippets { print("  " + snippet.replacingOccurrences(of: "\n", with: " ")) }
            }
            let t = result.timings
            print(String(format: "\ntime: %.1f s (clues %.1f, retrieval %.2f, answer %.1f)", t.total, t.recall,
                         t.retrieve, t.generate))
        }
    }
}

/// "answer: " the first time it is taken, "" after.
private final class AnswerLabel: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false

    func take() -> String {
        lock.lock()
        defer { lock.unlock() }
        defer { taken = true }
        return taken ? "" : "answer: "
    }
}

func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
