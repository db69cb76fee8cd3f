import Data
import Foundation
import Models
import Tokenizers
import Torch

/// `memorag adapt`: adapts a memory model to a folder of documents, as a chain of resumable stages in one run dir —
///
/// 1. `prepare`: split the domain by document (`DomainCorpus`), write the pieces under `data/`, tokenise them into
///    `data/pretrain.h5` (held-out text stored as validation documents only);
/// 2. `clues`: the starting model writes clue examples (`ClueSynthesis`) for window-sized contexts of the training
///    text, and a few of the held-out text, as `data/clues*.jsonl`;
/// 3. `sft-data`: those as SFT stores (`data/sft*.h5`);
/// 4. `evaluate-before`: held-out loss (full attention vs beacon compression, `CompressionEvaluation`; held-out
///    clue replies) of the starting model;
/// 5. `pretrain`, 6. `sft`: short `beacon-pretrain` and `sft` runs (their recipes with the config's budgets), the
///    second starting from the first's last checkpoint;
/// 7. `export`: the result as a beacon-only delta in `model/` (like the shipped model; `LanguageModel.load` reads it);
/// 8. `evaluate-after`: the same measurements on the exported model.
///
/// A finished stage is recorded in `state.json` and skipped when the run is started again; the training stages
/// resume from their newest checkpoint, so a killed run continues where it stopped. A re-run with other settings
/// or other documents is refused (its results would mix). The report goes to `report.json` and `report.md`.
public final class Adaptation {
    public enum Stage: String, CaseIterable, Sendable {
        case prepare, clues, sftData = "sft-data", evaluateBefore = "evaluate-before", pretrain, sft, export
        case evaluateAfter = "evaluate-after"
    }

    public enum Event {
        case started(Stage)
        case skipped(Stage, reason: String)
        case finished(Stage, seconds: Double, note: String)
        /// A line of progress inside a stage (documents read, evaluation rows, …).
        case note(String)
        case clue(ClueSynthesis.Progress)
        case training(Stage, TrainingEvent)
    }

    /// Everything of a run inside its directory.
    public struct Layout: Sendable {
        public let root: URL
        public init(root: URL) { self.root = root }
        public var state: URL { root.appendingPathComponent("state.json") }
        public var config: URL { root.appendingPathComponent("adapt.yaml") }
        public var data: URL { root.appendingPathComponent("data") }
        public var trainingText: URL { data.appendingPathComponent("train") }
        public var heldOutText: URL { data.appendingPathComponent("held-out") }
        public var tokenizer: URL { data.appendingPathComponent("tokenizer") }
        public var tokenStore: URL { data.appendingPathComponent("pretrain.h5") }
        public var clues: URL { data.appendingPathComponent("clues.jsonl") }
        public var heldOutClues: URL { data.appendingPathComponent("clues-held-out.jsonl") }
        public var sftStore: URL { data.appendingPathComponent("sft.h5") }
        public var heldOutSFTStore: URL { data.appendingPathComponent("sft-held-out.h5") }
        public var pretrainRun: URL { root.appendingPathComponent("pretrain") }
        public var sftRun: URL { root.appendingPathComponent("sft") }
        public var model: URL { root.appendingPathComponent("model") }
        public var reportJSON: URL { root.appendingPathComponent("report.json") }
        public var reportMarkdown: URL { root.appendingPathComponent("report.md") }
    }

    /// Makes the question writer from the loaded starting model (default: `ClueQuestionWriter`).
    public typealias WriterFactory = (LanguageModel, AdaptationConfig.Clues) throws -> ClueSynthesis.QuestionWriter

    struct State: Codable {
        var fingerprint: String
        var completed: [String]
        var report: AdaptationReport
    }

    public let corpus: DomainCorpus
    public let config: AdaptationConfig
    public let model: URL
    public let layout: Layout
    private let configDirectory: URL
    private let makeWriter: WriterFactory
    private var state: State
    private var startModel: LanguageModel?

    /// `configFile` is where `config` was read (stage recipes are found relative to it); `model` the model to adapt.
    public init(corpus: DomainCorpus, config: AdaptationConfig, configFile: URL, model: URL, output: URL,
                questionWriter: WriterFactory? = nil) throws {
        self.corpus = corpus
        self.config = config
        self.model = model
        layout = Layout(root: output)
        configDirectory = configFile.deletingLastPathComponent()
        makeWriter = questionWriter ?? { lm, clues in
            try ClueQuestionWriter.make(model: lm, maxNewTokens: clues.maxNewTokens, temperature: clues.temperature)
        }
        guard FileManager.default.fileExists(atPath: model.path) else {
            throw TrainingError.invalidModel(path: model.path, reason: "no such file or directory (the model to adapt)")
        }
        let yaml = try config.yaml()
        let fingerprint = SHA256.hex([yaml, model.standardizedFileURL.path, corpus.fingerprint].joined(separator: "\n"))
        let fm = FileManager.default
        if let data = fm.contents(atPath: layout.state.path) {
            guard let saved = try? JSONDecoder().decode(State.self, from: data) else {
                throw AdaptationError.runDirectory(path: layout.state.path, reason: "is not the state of an adapt run")
            }
            guard saved.fingerprint == fingerprint else {
                throw AdaptationError.runDirectory(path: output.path, reason: "was made from other documents, model or "
                                                   + "settings; give a new --out, or delete it to start over")
            }
            state = saved
        } else {
            if let entries = try? fm.contentsOfDirectory(atPath: output.path), !entries.isEmpty {
                throw AdaptationError.runDirectory(path: output.path, reason: "is not empty and not an adapt run dir")
            }
            try fm.createDirectory(at: output, withIntermediateDirectories: true)
            try DurableFile.write(Data(yaml.utf8), to: layout.config)
            state = State(fingerprint: fingerprint, completed: [], report: AdaptationReport(
                model: model.path, exported: nil, data: nil, before: nil, after: nil, pretrainSteps: 0, sftSteps: 0,
                stages: []))
            try saveState()
        }
    }

    /// Runs the stages not yet complete and returns the report (also written as report.json and report.md).
    @discardableResult
    public func run(progress: (Event) -> Void = { _ in }) throws -> AdaptationReport {
        if let threads = config.threads { try LibTorch.setNumThreads(threads) }
        for stage in Stage.allCases {
            if state.completed.contains(stage.rawValue) {
                progress(.skipped(stage, reason: "already complete"))
                continue
            }
            progress(.started(stage))
            let clock = ContinuousClock(), start = clock.now
            let note = try perform(stage, progress: progress)
            let seconds = (clock.now - start).seconds
            state.completed.append(stage.rawValue)
            state.report.stages.append(.init(stage: stage.rawValue, seconds: seconds, note: note))
            try saveState()
            progress(.finished(stage, seconds: seconds, note: note))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try encoder.encode(state.report), to: layout.reportJSON)
        try DurableFile.write(Data(state.report.markdown().utf8), to: layout.reportMarkdown)
        return state.report
    }

    private func saveState() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try encoder.encode(state), to: layout.state)
    }

    private func perform(_ stage: Stage, progress: (Event) -> Void) throws -> String {
        switch stage {
        case .prepare: return try prepare(progress: progress)
        case .clues: return try synthesizeClues(progress: progress)
        case .sftData: return try buildSFTStores()
        case .evaluateBefore:
            let measurement = try measure(try loadStartModel().model, progress: progress)
            state.report.before = measurement
            return Self.summary(measurement)
        case .pretrain: return try train(.pretrain, progress: progress)
        case .sft: return try train(.sft, progress: progress)
        case .export: return try export()
        case .evaluateAfter:
            guard let exported = state.report.exported else { return "nothing was trained" }
            let measurement = try measure(try LanguageModel.load(URL(fileURLWithPath: exported), dtype: dtype).model,
                                          progress: progress)
            state.report.after = measurement
            return Self.summary(measurement)
        }
    }

    private var dtype: DType { config.dtype == "bf16" ? .bfloat16 : .float32 }

    private func loadStartModel() throws -> LanguageModel {
        if let startModel { return startModel }
        let lm = try LanguageModel.load(model, dtype: dtype)
        if lm.model.config.beacon == nil { try lm.model.addBeacon(.memoryModelDefault) }
        startModel = lm
        return lm
    }

    // MARK: - Data

    /// The tokenizer files of the model: those of its directory, or converted from its GGUF.
    private func tokenizerFiles() throws -> [String: Foundation.Data] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model.path, isDirectory: &isDirectory) else {
            throw TrainingError.invalidModel(path: model.path, reason: "no such file or directory (--model)")
        }
        if !isDirectory.boolValue { return try GGUFConversion.tokenizerFiles(of: GGUFFile(url: model)) }
        var files: [String: Foundation.Data] = [:]
        for name in ModelSource.companionFiles {
            if let data = FileManager.default.contents(atPath: model.appendingPathComponent(name).path) { files[name] = data }
        }
        guard files["tokenizer.json"] != nil else {
            throw TrainingError.invalidModel(path: model.path, reason: "has no tokenizer.json")
        }
        return files
    }

    /// Split files are flat `.txt` names so `PretrainingBuilder` reads every one (it skips `eval/` folders).
    private static func fileName(_ document: DomainCorpus.Document) -> String {
        let flat = document.name.replacingOccurrences(of: "/", with: "__")
        return flat.hasSuffix(".txt") ? flat : flat + ".txt"
    }

    private func prepare(progress: (Event) -> Void) throws -> String {
        let fm = FileManager.default
        try? fm.removeItem(at: layout.data)
        let (training, heldOut) = try corpus.split(heldOutFraction: config.split.heldOutFraction,
                                                   seed: UInt64(truncatingIfNeeded: config.seed))
        for (dir, documents) in [(layout.trainingText, training), (layout.heldOutText, heldOut)] {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            for document in documents {
                try DurableFile.write(Foundation.Data(document.text.utf8), to: dir.appendingPathComponent(Self.fileName(document)))
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
    private func heldOutIDs(_ tokenizer: any Tokenizer) throws -> [Int] {
        let names = try FileManager.default.contentsOfDirectory(atPath: layout.heldOutText.path).sorted()
        let texts = try names.map { try String(contentsOf: layout.heldOutText.appendingPathComponent($0), encoding: .utf8) }
        return tokenizer.encodeLong(texts.joined(separator: "\n\n"))
    }

    private func texts(in directory: URL) throws -> [(name: String, text: String)] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map {
            ($0, try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8))
        }
    }

    /// Window-sized contexts of the documents in `directory`, `count` of them drawn with `seed` over all documents.
    private func contexts(in directory: URL, count: Int, seed: UInt64, tokenizer: any Tokenizer) throws
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

    private func synthesizeClues(progress: (Event) -> Void) throws -> String {
        let lm = try loadStartModel()
        let write = try makeWriter(lm, config.clues)
        var options = ClueSynthesis.Options()
        options.passagesPerDocument = config.clues.passages
        let prompts = try PromptSet.builtIn("en")
        let seed = UInt64(truncatingIfNeeded: config.seed)
        let training = try contexts(in: layout.trainingText, count: config.clues.contexts, seed: seed, tokenizer: lm.tokenizer)
        let heldOut = try contexts(in: layout.heldOutText, count: config.clues.heldOutContexts, seed: seed &+ 1,
                                   tokenizer: lm.tokenizer)
        progress(.note("\(training.count) training context(s), \(heldOut.count) held-out context(s) of at most "
                       + "\(config.clues.contextTokens) tokens, \(config.clues.passages) passage(s) each"))
        let trainBatch = try ClueSynthesis.synthesize(contexts: training, options: options, prompts: prompts, write: write) {
            progress(.clue($0))
        }
        let heldBatch = try ClueSynthesis.synthesize(contexts: heldOut, options: options, prompts: prompts, write: write) {
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

    private func buildSFTStores() throws -> String {
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

    // MARK: - Measuring

    private func measure(_ decoder: DecoderLM, progress: (Event) -> Void) throws -> AdaptationReport.Measurement {
        let tokenizer = try loadTokenizer(directory: layout.tokenizer)
        let ids = try heldOutIDs(tokenizer)
        // The evaluation only calls its (optional, so formally escaping) callback while it runs.
        let rows = try withoutActuallyEscaping({ (line: String) in progress(.note(line)) }) { note in
            try CompressionEvaluation.run(model: decoder, ids: ids, length: config.eval.length,
                                          segments: config.eval.segments, ratios: config.eval.ratios, progress: note)
        }
        var measurement = AdaptationReport.Measurement(compression: rows, clueLoss: nil, clueTokens: nil)
        if config.eval.clueExamples > 0, FileManager.default.fileExists(atPath: layout.heldOutSFTStore.path) {
            let (loss, tokens) = try Self.clueLoss(decoder, store: layout.heldOutSFTStore, examples: config.eval.clueExamples,
                                                   maxLength: config.sft.maxLength, ratios: config.sft.ratios,
                                                   seed: UInt64(truncatingIfNeeded: config.seed))
            measurement.clueLoss = loss
            measurement.clueTokens = tokens
            progress(.note(String(format: "held-out clue replies: %.4f (%d tokens)", loss, tokens)))
        }
        return measurement
    }

    /// Mean loss per reply token over the first `examples` examples of a clue store (in its seeded order), each
    /// read through the beacon memory as in SFT: what the SFT stage's validation loss would be on them.
    static func clueLoss(_ decoder: DecoderLM, store: URL, examples: Int, maxLength: Int, ratios: [Int], seed: UInt64)
        throws -> (loss: Double, tokens: Int)
    {
        let source = try SFTStoreSource(url: store, maxLength: maxLength, seed: seed)
        let objective = try BeaconObjective(decoder: decoder, ratios: ratios, seed: seed)
        let count = min(examples, try SFTStore(url: store).exampleCount)
        var sum = 0.0, tokens = 0
        try withNoGrad {
            for _ in 0..<count {
                let out = try objective.loss(source.next())
                sum += try out.sum.item()
                tokens += out.tokens
            }
        }
        return (sum / Double(max(tokens, 1)), tokens)
    }

    static func summary(_ m: AdaptationReport.Measurement) -> String {
        m.compression.map { String(format: "%@ %.4f", $0.ratio.map { "r=\($0)" } ?? "full", $0.loss) }.joined(separator: ", ")
            + (m.clueLoss.map { String(format: "; clue replies %.4f", $0) } ?? "")
    }

    // MARK: - Training and export

    private func stageRecipe(_ stage: AdaptationConfig.Stage, kind: Recipe.Stage, modelPath: String, data: URL,
                             output: URL) throws -> Recipe {
        let file = stage.recipe.hasPrefix("/") ? URL(fileURLWithPath: stage.recipe)
            : configDirectory.appendingPathComponent(stage.recipe)
        var overrides = [
            "model.path=\(modelPath)", "data.train=\(data.path)", "~data.validation", "stage=\(kind.rawValue)",
            "trainable.mode=only_beacon", "data.ratios=[\(stage.ratios.map(String.init).joined(separator: ","))]",
            "data.min_length=\(stage.minLength)", "data.max_length=\(stage.maxLength)", "max_steps=\(stage.maxSteps)",
            "grad_accumulation=\(stage.gradAccumulation)", "optimizer.lr=\(stage.lr)",
            "schedule.warmup_steps=\(stage.warmupSteps)", "checkpoint.every=\(stage.checkpointEvery)",
            "checkpoint.keep_last=1", "validation.every=\(stage.maxSteps)", "dtype=\(config.dtype)", "seed=\(config.seed)",
            "output_dir=\(output.path)", "resume=true",
        ]
        overrides.append(config.threads.map { "threads=\($0)" } ?? "~threads")
        return try RecipeLoader.load(file: file, overrides: overrides + (stage.overrides ?? []))
    }

    private func train(_ stage: Stage, progress: (Event) -> Void) throws -> String {
        let pretraining = stage == .pretrain
        let settings = pretraining ? config.pretrain : config.sft
        guard settings.maxSteps > 0 else { return "skipped (\(stage.rawValue).max_steps is 0)" }
        let data = pretraining ? layout.tokenStore : layout.sftStore
        guard FileManager.default.fileExists(atPath: data.path) else {
            return "skipped: no clue example was accepted, so there is nothing to fine-tune on"
        }
        let start = pretraining ? model.path
            : (CheckpointStore.newestIfPresent(layout.pretrainRun)?.path ?? model.path)
        let recipe = try stageRecipe(settings, kind: pretraining ? .beaconPretrain : .sft, modelPath: start, data: data,
                                     output: pretraining ? layout.pretrainRun : layout.sftRun)
        let trainer = try TrainingSetup.makeTrainer(recipe: recipe)
        var last: StepMetrics?
        try trainer.run { event in
            if case .step(let m) = event { last = m }
            progress(.training(stage, event))
        }
        if pretraining { state.report.pretrainSteps = trainer.step } else { state.report.sftSteps = trainer.step }
        return "\(trainer.step) steps from \(URL(fileURLWithPath: start).lastPathComponent)"
            + (last.map { String(format: ", last loss %.4f, %.0f input tok/s", $0.loss, $0.inputTokensPerSecond) } ?? "")
    }

    private func export() throws -> String {
        guard let checkpoint = CheckpointStore.newestIfPresent(layout.sftRun) ?? CheckpointStore.newestIfPresent(layout.pretrainRun)
        else { return "nothing was trained" }
        let fm = FileManager.default
        let temporary = layout.root.appendingPathComponent(".tmp-model")
        try? fm.removeItem(at: temporary)
        let report = try ModelExport.export(checkpoint: checkpoint, to: temporary, dtype: try ComputeDType.parse(config.export.dtype),
                                            beaconOnly: true)
        try? fm.removeItem(at: layout.model)
        try fm.moveItem(at: temporary, to: layout.model)
        state.report.exported = layout.model.path
        return "\(checkpoint.deletingLastPathComponent().lastPathComponent)/\(checkpoint.lastPathComponent) → "
            + "\(layout.model.lastPathComponent)/ (\(report.tensors) beacon tensors, \(report.bytes) bytes, \(config.export.dtype))"
    }
}

extension CheckpointStore {
    /// The newest complete checkpoint of a run dir, nil when there is none (or no dir).
    static func newestIfPresent(_ directory: URL) -> URL? {
        guard FileManager.default.fileExists(atPath: directory.path) else { return nil }
        return (try? CheckpointStore(directory: directory))?.newest()?.url
    }
}

/// A run dir that cannot be used for this adaptation.
public enum AdaptationError: Error, LocalizedError, Equatable {
    case runDirectory(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .runDirectory(let path, let reason): return "\(path) \(reason)"
        }
    }
}
