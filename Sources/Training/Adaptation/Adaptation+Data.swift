import Datasets
import Foundation
import Models
import Tokenizers
import Torch

/// The data stages of `Adaptation`: split and token store, clue examples, SFT stores.
extension Adaptation {
    /// The tokenizer files of the model: those of its directory, or converted from its GGUF.
    func tokenizerFiles() throws -> [String: Data] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model.path, isDirectory: &isDirectory) else {
            throw TrainingError.invalidModel(path: model.path, reason: "no such file or directory (--model)")
        }
        if !isDirectory.boolValue { return try GGUFConversion.tokenizerFiles(of: GGUFFile(url: model)) }
        var files: [String: Data] = [:]
        for name in ModelSource.companionFiles {
            if let data = FileManager.default.contents(atPath: model.appendingPathComponent(name).path) { files[name] = data }
        }
        guard files["tokenizer.json"] != nil else {
            throw TrainingError.invalidModel(path: model.path, reason: "has no tokenizer.json")
        }
        return files
    }

    /// Split files are flat `.txt` names so `PretrainingBuilder` reads every one (it skips `eval/` folders).
    static func fileName(_ document: DomainCorpus.Document) -> String {
        let flat = document.name.replacingOccurrences(of: "/", with: "__")
        return flat.hasSuffix(".txt") ? flat : flat + ".txt"
    }

    func prepare(progress: (Event) -> Void) throws -> String {
        let fm = FileManager.default
        try? fm.removeItem(at: layout.data)
        let (training, heldOut) = try corpus.split(heldOutFraction: config.split.heldOutFraction,
                                                   seed: UInt64(truncatingIfNeeded: config.seed))
        for (dir, documents) in [(layout.trainingText, training), (layout.heldOutText, heldOut)] {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            for document in documents {
                try DurableFile.write(Data(document.text.utf8), to: dir.appendingPathComponent(Self.fileName(document)))
            }
        }
        try fm.createDirectory(at: layout.tokenizer, withIntermediateDirectories: true)
        for (name, data) in try tokenizerFiles() { try DurableFile.write(data, to: layout.tokenizer.appendingPathComponent(name)) }
        let tokenizer = try loadTokenizer(directory: layout.tokenizer)
        let summary = try PretrainingBuilder.build(
            inputs: [layout.trainingText], heldOut: [layout.heldOutText], tokenizer: tokenizer,
            tokenizerSHA256: try TokenizerFingerprint.sha256(directory: layout.tokenizer), output: layout.tokenStore
        ) { event in
            if case .document(let source, let tokens, _) = event {
                progress(.note("\(URL(fileURLWithPath: source).lastPathComponent): \(tokens) tokens"))
            }
        }
        let heldOutTokens = try heldOutIDs(tokenizer).count
        let trainingTokens = summary.tokens - heldOutTokens
        guard heldOutTokens >= config.eval.length else {
            throw DataError.badInput(source: layout.heldOutText.path, reason: "the held-out text has \(heldOutTokens) "
                + "tokens but eval.length is \(config.eval.length): raise split.held_out_fraction, add documents, or "
                + "lower eval.length")
        }
        guard config.pretrain.maxSteps == 0 || trainingTokens >= config.pretrain.maxLength else {
            throw DataError.badInput(source: layout.trainingText.path, reason: "the training text has \(trainingTokens) "
                + "tokens, fewer than one pretraining sample (pretrain.max_length \(config.pretrain.maxLength))")
        }
        state.report.data = .init(trainingDocuments: training.map(\.name), heldOutDocuments: heldOut.map(\.name),
                                  trainingTokens: trainingTokens, heldOutTokens: heldOutTokens, clueExamples: 0,
                                  heldOutClueExamples: 0, acceptedPassages: 0, rejectedPassages: 0)
        return "\(training.count) training document(s), \(trainingTokens) tokens; held out: "
            + "\(heldOut.map(\.name).joined(separator: ", ")), \(heldOutTokens) tokens"
    }

    /// The held-out text as one token stream (documents joined by a blank line).
    func heldOutIDs(_ tokenizer: any Tokenizer) throws -> [Int] {
        let names = try FileManager.default.contentsOfDirectory(atPath: layout.heldOutText.path).sorted()
        let texts = try names.map { try String(contentsOf: layout.heldOutText.appendingPathComponent($0), encoding: .utf8) }
        return tokenizer.encodeLong(texts.joined(separator: "\n\n"))
    }

    func texts(in directory: URL) throws -> [(name: String, text: String)] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map {
            ($0, try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8))
        }
    }

    /// Window-sized contexts of the documents in `directory`, `count` of them drawn with `seed` over all documents.
    func contexts(in directory: URL, count: Int, seed: UInt64, tokenizer: any Tokenizer) throws
        -> [ClueSynthesis.Context]
    {
        guard count > 0 else { return [] }
        var all: [ClueSynthesis.Context] = []
        for (d, document) in try texts(in: directory).enumerated() {
            let pieces = ClueSynthesis.contexts(of: document.text, maxTokens: config.clues.contextTokens) {
                tokenizer.encode($0, addSpecialTokens: false).count
            }
            all += pieces.enumerated().map { c, piece in
                ClueSynthesis.Context(source: document.name, text: piece, seed: seed &+ UInt64(d) &* 7919 &+ UInt64(c))
            }
        }
        return ClueSynthesis.sample(all, count: count, seed: seed)
    }

    /// The model that writes the clue questions (`clues.writer`): the base under a beacon delta, or the model.
    func questionWriterModel(progress: (Event) -> Void) throws -> LanguageModel {
        guard config.clues.writer == "base", let delta = try BeaconDelta.manifest(in: model) else { return try loadStartModel() }
        let base = try BeaconDelta.locateBase(delta, modelsDirectory: LanguageModel.modelsDirectory, delta: model)
        progress(.note("questions written by the base model \(base.path) (clues.writer: base)"))
        return try LanguageModel.load(base, dtype: dtype, device: device)
    }

    func synthesizeClues(progress: (Event) -> Void) throws -> String {
        let lm = try loadStartModel()
        let write = try makeWriter(try questionWriterModel(progress: progress), config.clues)
        var options = ClueSynthesis.Options()
        options.passagesPerDocument = config.clues.passages
        var heldOutOptions = options
        heldOutOptions.passagesPerDocument = config.clues.heldOutPassages
        let prompts = try PromptSet.builtIn("en")
        let seed = UInt64(truncatingIfNeeded: config.seed)
        let training = try contexts(in: layout.trainingText, count: config.clues.contexts, seed: seed, tokenizer: lm.tokenizer)
        let heldOut = try contexts(in: layout.heldOutText, count: config.clues.heldOutContexts, seed: seed &+ 1,
                                   tokenizer: lm.tokenizer)
        progress(.note("\(training.count) training context(s), \(heldOut.count) held-out context(s) of at most "
                       + "\(config.clues.contextTokens) tokens, \(config.clues.passages) and "
                       + "\(config.clues.heldOutPassages) passage(s) each"))
        let trainBatch = try ClueSynthesis.synthesize(contexts: training, options: options, prompts: prompts, write: write) {
            progress(.clue($0))
        }
        let heldBatch = try ClueSynthesis.synthesize(contexts: heldOut, options: heldOutOptions, prompts: prompts,
                                                     write: write) {
            progress(.clue($0))
        }
        try trainBatch.jsonl.write(to: layout.clues, options: .atomic)
        try heldBatch.jsonl.write(to: layout.heldOutClues, options: .atomic)
        state.report.data?.clueExamples = trainBatch.examples
        state.report.data?.heldOutClueExamples = heldBatch.examples
        state.report.data?.acceptedPassages = trainBatch.accepted + heldBatch.accepted
        state.report.data?.rejectedPassages = trainBatch.rejected + heldBatch.rejected
        return "\(trainBatch.examples) training and \(heldBatch.examples) held-out clue examples "
            + "(\(trainBatch.accepted + heldBatch.accepted) passages accepted, \(trainBatch.rejected + heldBatch.rejected) rejected)"
    }

    func buildSFTStores() throws -> String {
        let tokenizer = try loadTokenizer(directory: layout.tokenizer)
        let template = try ChatTemplate.load(directory: layout.tokenizer)
        let hash = try TokenizerFingerprint.sha256(directory: layout.tokenizer)
        var built: [String] = []
        for (jsonl, store, count) in [(layout.clues, layout.sftStore, state.report.data?.clueExamples ?? 0),
                                      (layout.heldOutClues, layout.heldOutSFTStore, state.report.data?.heldOutClueExamples ?? 0)]
        where count > 0 {
            let summary = try SFTBuilder.build(input: jsonl, tokenizer: tokenizer, template: template,
                                               tokenizerSHA256: hash, output: store)
            built.append("\(store.lastPathComponent): \(summary.examples) examples over \(summary.contexts) contexts")
        }
        return built.isEmpty ? "no clue examples, no SFT store" : built.joined(separator: "; ")
    }
}
