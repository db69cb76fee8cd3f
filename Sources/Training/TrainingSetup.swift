import Foundation
import Models
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

    public static func makeTrainer(recipe: Recipe, objective makeObjective: ObjectiveFactory? = nil,
                                   data makeData: DataSourceFactory? = nil) throws -> Trainer {
        try recipe.validate()
        guard makeObjective != nil || recipe.stage == .lm else {
            throw TrainingError.unsupported(
                "stage '\(recipe.stage.rawValue)' trains through the beacon objective of the memory model, which this build does not have; use stage=lm")
        }
        if let threads = recipe.threads { try LibTorch.setNumThreads(threads) }
        let dtype: DType = recipe.dtype == "bf16" ? .bfloat16 : .float32
        let source = try ModelSource.load(path: recipe.model.path, dtype: dtype)

        let objective = try makeObjective?(recipe, source) ?? CausalLMObjective(decoder: source.decoder)

        let seed = UInt64(truncatingIfNeeded: recipe.seed)
        let open = makeData ?? jsonTokenSource
        let train = try open(recipe.data.train, recipe, seed)
        let validation = try recipe.data.validation.map { try open($0, recipe, seed &+ 1) }
        let trainer = try Trainer(recipe: recipe, objective: objective, data: train, validationData: validation,
                                  extraFiles: source.files)
        try DurableFile.write(Data(try RecipeLoader.yaml(recipe).utf8),
                              to: trainer.store.directory.appendingPathComponent("recipe.yaml"))
        return trainer
    }

    /// JSON token documents for now; HDF5 stores (`.h5`) are read by the `Data` target's sources.
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
