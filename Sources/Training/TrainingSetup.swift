import Datasets
import Foundation
import Models
import Retrieval
import Tokenizers
import Torch

/// Turns a resolved recipe into a ready `Trainer`: threads, dtype, model, objective, data, and `recipe.yaml` saved in
/// the output dir. This is what `memorag train` calls.
public enum TrainingSetup {
    /// Builds the objective for a stage from the loaded model. The plain LM stage is built in; the beacon stages
    /// (`beacon-pretrain`, `sft`) need the memory model's objective, which a caller supplies here.
    public typealias ObjectiveFactory = (Recipe, ModelSource) throws -> TrainingObjective
    /// Opens a data file (`data.train` or `data.validation`) as batches of `recipe.batchSize`, seeded by `seed`.
    /// The built-in one reads JSON token documents; HDF5 stores come from the `Data` target through the same shape.
    public typealias DataSourceFactory = (_ path: String, _ recipe: Recipe, _ seed: UInt64) throws -> TrainingDataSource

    /// With `parallel` (one rank of a data-parallel run) the ranks first check that they all run the same resolved
    /// recipe on the same model and data files; each data source is built for the global batch (`batch_size` ×
    /// ranks) and sharded by rows, and only rank 0 writes `recipe.yaml`.
    public static func makeTrainer(recipe: Recipe, objective makeObjective: ObjectiveFactory? = nil,
                                   data makeData: DataSourceFactory? = nil, parallel: DataParallel? = nil) throws -> Trainer {
        try recipe.validate()
        if let threads = recipe.threads { try LibTorch.setNumThreads(threads) }
        var recipe = recipe
        // A bare `cuda` stays as written: in a data-parallel run it means each rank's own GPU.
        let bareCUDA = recipe.device?.trimmingCharacters(in: .whitespaces).lowercased() == "cuda"
        recipe.device = bareCUDA ? "cuda" : try deviceChoice(recipe).description
        let device: Device
        do {
            device = try parallel.map { try DeviceChoice.forRank(recipe.device!, localRank: $0.environment.localRank) }
                ?? DeviceChoice(parsing: recipe.device!).resolve()
        } catch let error as TorchError {
            throw RecipeError.invalidValue(key: "device", reason: error.message)
        }
        recipe.dtype = try concreteDType(recipe, device: device)
        try parallel?.agree(on: RunFingerprint(worldSize: parallel?.worldSize ?? 1, recipe: recipe))
        let precision = recipe.precision(on: device)
        // Weights are read on the CPU in the master dtype, then the model moves to its device as a whole.
        let source = try ModelSource.load(path: recipe.model.path, dtype: precision.master)
        try source.decoder.move(to: device)

        let objective = try makeObjective?(recipe, source) ?? defaultObjective(recipe, source)

        try checkMemory(recipe, source.decoder.config)

        let seed = UInt64(truncatingIfNeeded: recipe.seed)
        let separator = source.decoder.config.eosTokenIds.first
        let model = StoreCompatibility(source)
        // Sources read global batches; each rank keeps its rows.
        var global = recipe
        global.batchSize = recipe.batchSize * (parallel?.worldSize ?? 1)
        func shard(_ source: TrainingDataSource) -> TrainingDataSource {
            guard let parallel else { return source }
            return ShardedDataSource(global: source, rank: parallel.rank, worldSize: parallel.worldSize)
        }
        if recipe.stage == .clueFeedback, let parallel, parallel.worldSize > 1 {
            // Every rank would score the same questions: the scoring is not sharded.
            throw TrainingError.unsupported("stage clue-feedback runs in one process, not on \(parallel.worldSize) ranks")
        }
        let train = shard(try (makeData ?? { path, recipe, seed in
            if recipe.stage == .clueFeedback { return try clueFeedbackSource(recipe, source) }
            return try defaultSource(path, recipe: recipe, seed: seed, separator: separator, validation: false, model: model)
        })(recipe.data.train, global, seed))
        let validation = try recipe.data.validation.map { path in
            shard(try (makeData ?? { path, recipe, seed in
                try defaultSource(path, recipe: recipe, seed: seed, separator: separator, validation: true, model: model)
            })(path, global, seed &+ 1))
        }
        let trainer = try Trainer(recipe: recipe, objective: objective, data: train, validationData: validation,
                                  extraFiles: source.files, parallel: parallel)
        if parallel?.isRankZero ?? true {
            try DurableFile.write(Data(try RecipeLoader.yaml(recipe).utf8),
                                  to: trainer.store.directory.appendingPathComponent("recipe.yaml"))
        }
        return trainer
    }

    /// `fp32` or `bf16` for the recipe's dtype: `auto` becomes what `ComputeDType.choose(for:)` picks for `device`,
    /// or, when resuming, what the run's saved `recipe.yaml` holds (its checkpoints are in that dtype).
    public static func concreteDType(_ recipe: Recipe, device: Device = .cpu) throws -> String {
        guard recipe.dtype == "auto" else { return recipe.dtype }
        if let earlier = try savedRecipe(recipe), earlier.dtype != "auto" { return earlier.dtype }
        return try ComputeDType.choose(for: device) == .bfloat16 ? "bf16" : "fp32"
    }

    /// The recipe's device; when it names none, on resume what the run's saved `recipe.yaml` names, else `auto`.
    public static func deviceChoice(_ recipe: Recipe) throws -> DeviceChoice {
        do {
            if let device = recipe.device { return try DeviceChoice(parsing: device) }
            if let device = try savedRecipe(recipe)?.device { return try DeviceChoice(parsing: device) }
        } catch let error as TorchError {
            throw RecipeError.invalidValue(key: "device", reason: error.message)
        }
        return .auto
    }

    /// The `recipe.yaml` an earlier start of this run saved, when resuming.
    private static func savedRecipe(_ recipe: Recipe) throws -> Recipe? {
        let saved = URL(fileURLWithPath: (recipe.outputDir as NSString).expandingTildeInPath)
            .appendingPathComponent("recipe.yaml")
        guard recipe.resume, FileManager.default.fileExists(atPath: saved.path) else { return nil }
        return try RecipeLoader.load(file: saved)
    }

    /// The stage's objective: next-token loss for `lm`, the memory model's beacon loss for `beacon-pretrain`, `sft`
    /// and `clue-feedback` (beacon parameters are added to a plain base model), wrapped in DPO for `clue-feedback`
    /// with `feedback.method: dpo`.
    public static func defaultObjective(_ recipe: Recipe, _ source: ModelSource) throws -> TrainingObjective {
        switch recipe.stage {
        case .lm: return CausalLMObjective(decoder: source.decoder)
        case .beaconPretrain, .sft, .clueFeedback:
            let beacon = try beaconObjective(recipe, source)
            let feedback = recipe.feedbackSettings
            guard recipe.stage == .clueFeedback, feedback.method == .dpo else { return beacon }
            return try DPOObjective(base: beacon, beta: feedback.beta)
        }
    }

    private static func beaconObjective(_ recipe: Recipe, _ source: ModelSource) throws -> BeaconObjective {
        try BeaconObjective(decoder: source.decoder, ratios: recipe.data.ratios, seed: UInt64(truncatingIfNeeded: recipe.seed))
    }

    /// HDF5 stores by their format (`memory.tokens` → long-context windows, for validation from the store's
    /// validation documents; `memorag.sft` → clue examples), JSON token documents otherwise. `model` refuses a store
    /// made with another tokenizer.
    public static func defaultSource(_ path: String, recipe: Recipe, seed: UInt64, separator: Int?, validation: Bool,
                                     model: StoreCompatibility? = nil) throws -> TrainingDataSource
    {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        guard url.pathExtension == "h5" else { return try jsonTokenSource(path, recipe: recipe, seed: seed) }
        // Clue-feedback validates on clue SFT data (its training data is scored, not stored).
        if recipe.stage == .sft || recipe.stage == .clueFeedback {
            return try SFTStoreSource(url: url, maxLength: recipe.data.maxLength, batchSize: recipe.batchSize, seed: seed,
                                      model: model)
        }
        return try TokenStoreSource(url: url, minLength: recipe.data.minLength, maxLength: recipe.data.maxLength,
                                    batchSize: recipe.batchSize, seed: seed, separatorToken: separator,
                                    validation: validation, model: model)
    }

    /// Stage clue-feedback's training data: the questions of the clue data in `data.train`, scored with clues the
    /// model being trained writes (`MemoryClueWriter` over `source.decoder`), retrieved with `feedback.retriever`
    /// (default: the installed all-MiniLM-L6-v2, the pipeline's retriever). `wrapWriter` lets a caller stand
    /// between the stage and the model's writer (the resume tests interrupt a run with it).
    public static func clueFeedbackSource(_ recipe: Recipe, _ source: ModelSource,
                                          wrapWriter: (ClueReplyWriting) -> ClueReplyWriting = { $0 }) throws
        -> ClueFeedbackSource
    {
        let settings = recipe.feedbackSettings
        func url(_ path: String) -> URL { URL(fileURLWithPath: (path as NSString).expandingTildeInPath) }
        let modelURL = url(recipe.model.path)
        let lm = LanguageModel(model: source.decoder, tokenizer: try LanguageModel.tokenizer(at: modelURL),
                               chatTemplate: try LanguageModel.chatTemplate(at: modelURL), source: modelURL)
        let prompts = try settings.prompts.map { try PromptSet.load(url($0)) } ?? PromptSet.builtIn("en")
        let questions = try ClueQuestionSet.read(url(recipe.data.train), prompts: prompts)
        let retriever = settings.retriever.map(url) ?? LanguageModel.modelsDirectory.appendingPathComponent("all-MiniLM-L6-v2")
        let compatibility = StoreCompatibility(source)
        guard let tokenizerSHA256 = compatibility.tokenizerSHA256, let template = lm.chatTemplate else {
            throw TrainingError.invalidModel(path: modelURL.path, reason: "stage clue-feedback needs the model's "
                                             + "tokenizer.json and a recognised chat template")
        }
        return try ClueFeedbackSource(recipe: recipe, questions: questions, prompts: prompts,
                                      embedder: try Embedder(directory: retriever),
                                      writer: wrapWriter(try MemoryClueWriter(model: lm, prompts: prompts, settings: settings)),
                                      tokenizer: lm.tokenizer, template: template, tokenizerSHA256: tokenizerSHA256,
                                      compatibility: compatibility,
                                      logProbabilities: settings.method == .dpo ? try referenceScorer(recipe, source) : nil)
    }

    /// Log-probabilities as the DPO objective measures its policy's, in the same precision (the trainer's
    /// autocast), so a reference taken from the same weights gives the pairs a margin of exactly 0.
    public static func referenceScorer(_ recipe: Recipe, _ source: ModelSource) throws -> (TrainingBatch) throws -> [Double] {
        let objective = try beaconObjective(recipe, source)
        let device = source.decoder.device
        let precision = recipe.precision(on: device)
        return { batch in
            guard precision.isMixed else { return try objective.logProbabilities(batch) }
            return try withAutocast(precision.compute, on: device) { try objective.logProbabilities(batch) }
        }
    }

    /// Refuses a plain-LM micro-batch whose activations alone cannot fit in this machine's memory. A lower bound:
    /// each layer keeps, per token, at least its input, q/k/v/o and the MLP's three intermediate activations for
    /// backward (the beacon stages go window by window, so their memory does not grow with the sample).
    static func checkMemory(_ recipe: Recipe, _ config: DecoderConfig) throws {
        guard recipe.stage == .lm else { return }
        let bytesPerValue = recipe.dtype == "bf16" ? 2.0 : 4.0
        let perToken = Double(config.numHiddenLayers) * Double(6 * config.hiddenSize + 3 * config.intermediateSize)
        let needed = Double(recipe.batchSize) * Double(recipe.data.maxLength) * perToken * bytesPerValue
        let available = Double(ProcessInfo.processInfo.physicalMemory)
        guard needed <= available else {
            throw RecipeError.invalidValue(key: "batch_size", reason: String(
                format: "%d sequences of %d tokens need at least %.1f GB of activations for this model, more than "
                    + "this machine's %.1f GB; lower batch_size or data.max_length (grad_accumulation makes larger "
                    + "effective batches)", recipe.batchSize, recipe.data.maxLength, needed / 1e9, available / 1e9))
        }
    }

    /// JSON token documents (`[[id, …], …]`), for small corpora and tests.
    public static func jsonTokenSource(_ path: String, recipe: Recipe, seed: UInt64) throws -> TrainingDataSource {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        guard url.pathExtension == "json" else {
            throw TrainingDataError.unreadable(path: url.path,
                reason: "unsupported data file (this build reads JSON token documents, [[id, …], …])")
        }
        return try InMemoryTokenSource(documents: InMemoryTokenSource.documents(json: url), length: recipe.data.maxLength,
                                       batchSize: recipe.batchSize, seed: seed)
    }
}
