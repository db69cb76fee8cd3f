import Datasets
import Foundation
import Models
import Tokenizers
import Torch

/// The measuring, training and export stages of `Adaptation`.
extension Adaptation {
    // MARK: - Measuring

    func measure(_ decoder: DecoderLM, progress: (Event) -> Void) throws -> AdaptationReport.Measurement {
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

    func stageRecipe(_ stage: AdaptationConfig.Stage, kind: Recipe.Stage, modelPath: String, data: URL,
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
        overrides.append(config.device.map { "device=\($0)" } ?? "~device")
        // The stage's own overrides come last and may set what the adaptation generated.
        return try RecipeLoader.load(file: file, overrides: overrides, laterOverrides: stage.overrides ?? [])
    }

    func train(_ stage: Stage, progress: (Event) -> Void) throws -> String {
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

    func export() throws -> String {
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
