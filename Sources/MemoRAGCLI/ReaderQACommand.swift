import ArgumentParser
import Datasets
import Foundation
import Tokenizers
import Torch

/// `memorag data reader-qa`: reader SFT examples (question + evidence → short answer) from books, by rule.
struct ReaderQACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reader-qa",
        abstract: "Build reader SFT examples (question + evidence passages -> short answer) from books, by rule.",
        discussion: """
            Questions come from narrative sentences about the book's characters (who / what / where / why), each \
            answered by a span of its passage; the evidence adds near and far passages of the same book, and a share \
            of examples leave the answer's passage out and answer "\(ReaderQuestions.notInEvidence)". Writes JSONL \
            for `memorag data sft` in the answering prompt the pipeline's generator reads. Evaluation books are \
            refused; keep your tuning book out too. See docs/training.md, "Reader SFT".
            """)

    @Option(help: "Output JSONL file.") var out: String
    @Option(help: "Examples per book at most.") var limit = 400
    @Option(help: "Share of examples whose evidence lacks the answer (they answer that the text does not say).")
    var unanswerable = 0.08
    @Option(help: "Seed for the choice of questions and distractor passages.") var seed: UInt64 = 0
    @Option(help: "Prompts JSON (key qa_generation; default: MemoRAG's English prompts).") var prompts: String?
    @Argument(help: "UTF-8 text files, one book each.") var documents: [String]

    func validate() throws {
        if documents.isEmpty { throw ValidationError("Give at least one book.") }
        if limit < 1 { throw ValidationError("--limit must be positive") }
        if !(0..<1).contains(unanswerable) { throw ValidationError("--unanswerable must be in [0, 1)") }
    }

    func run() throws {
        let summary = try reportingErrors { () throws -> String in
            let promptSet = try prompts.map { try PromptSet.load(URL(fileURLWithPath: $0)) } ?? (try PromptSet.builtIn("en"))
            var options = ReaderQuestions.Options()
            options.limit = limit
            options.unanswerableFraction = unanswerable
            var lines: [String] = []
            var kinds: [ReaderQuestions.Kind: Int] = [:]
            for (d, path) in documents.enumerated() {
                let text = try SynthCluesCommand.readDocument(path)
                options.seed = seed &+ UInt64(d)
                let examples = ReaderQuestions.examples(document: text, options: options)
                if examples.isEmpty {
                    FileHandle.standardError.write(Data("note: \(path): no sentence made a question (no recurring character names?)\n".utf8))
                }
                for example in examples {
                    lines.append(try ReaderQuestions.jsonLine(example, source: (path as NSString).lastPathComponent, prompts: promptSet))
                    kinds[example.kind, default: 0] += 1
                }
                FileHandle.standardError.write(Data("\(path): \(examples.count) examples\n".utf8))
            }
            guard !lines.isEmpty else { throw DataError.badInput(source: documents.joined(separator: ", "), reason: "no reader examples") }
            try DurableFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: URL(fileURLWithPath: out))
            let counts = ReaderQuestions.Kind.allCases.map { "\($0.rawValue) \(kinds[$0, default: 0])" }.joined(separator: ", ")
            return "wrote \(out): \(lines.count) examples (\(counts))"
        }
        print(summary)
    }
}
