import Datasets
import Foundation
import Models
import Retrieval
import Tokenizers
import Torch

/// The measuring, training and export stages of `Adaptation`.
extension Adaptation {
    // MARK: - Measuring

    func measure(_ lm: LanguageModel, progress: (Event) -> Void) throws -> AdaptationReport.Measurement {
        let decoder = lm.model
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
        if config.eval.retrievalQuestions > 0, FileManager.default.fileExists(atPath: layout.heldOutClues.path) {
            measurement.retrieval = try retrieval(lm, progress: progress)
        }
        return measurement
    }

    /// Held-out evidence retrieval: the held-out clue data's questions asked over their whole held-out document,
    /// with the clues `lm` writes greedily for the feedback stage's clue task, at the pipeline's passage budget and
    /// fusion (`Recipe.Feedback`'s defaults: the stage may train at another budget over its short contexts).
    func retrieval(_ lm: LanguageModel, progress: (Event) -> Void) throws -> ClueRetrievalEvaluation.Result {
        let prompts = try PromptSet.builtIn("en")
        let set = try ClueQuestionSet.read(layout.heldOutClues, prompts: prompts)
        var settings = try stageRecipe(config.feedback, kind: .clueFeedback, modelPath: model.path, data: layout.clues,
                                       output: layout.feedbackRun).feedbackSettings
        let pipeline = Recipe.Feedback()
        (settings.depth, settings.topK, settings.queryWeight) = (pipeline.depth, pipeline.topK, pipeline.queryWeight)
        settings.temperature = 0
        let retriever = config.eval.retriever.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
            ?? LanguageModel.modelsDirectory.appendingPathComponent("all-MiniLM-L6-v2")
        return try ClueRetrievalEvaluation.run(
            questions: set.questions, documents: try texts(in: layout.heldOutText), limit: config.eval.retrievalQuestions,
            writer: try MemoryClueWriter(model: lm, prompts: prompts, settings: settings),
            embedder: try Embedder(directory: retriever), prompts: prompts, settings: settings
        ) { progress(.note($0)) }
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
            + (m.retrieval.map { "; evidence in top \($0.topK): with clues \($0.withClues)/\($0.questions), question "
                + "alone \($0.questionAlone)/\($0.questions)" } ?? "")
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

    /// A training stage's config key and settings, recipe kind, data, run dir, and the runs whose newest
    /// checkpoint it starts from (the first that has one; else the model to adapt).
    private func plan(_ stage: Stage) -> (key: String, settings: AdaptationConfig.Stage, kind: Recipe.Stage, data: URL,
                                          run: URL, startRuns: [URL]) {
        switch stage {
        case .pretrain: return ("pretrain", config.pretrain, .beaconPretrain, layout.tokenStore, layout.pretrainRun, [])
        case .sft: return ("sft", config.sft, .sft, layout.sftStore, layout.sftRun, [layout.pretrainRun])
        default:
            return ("feedback", config.feedback, .clueFeedback, layout.clues, layout.feedbackRun,
                    [layout.sftRun, layout.pretrainRun])
        }
    }

    func train(_ stage: Stage, progress: (Event) -> Void) throws -> String {
        let plan = plan(stage)
        guard plan.settings.maxSteps > 0 else { return "skipped (\(plan.key).max_steps is 0)" }
        // Both clue stages train on the clue examples the model wrote.
        guard stage == .pretrain || (state.report.data?.clueExamples ?? 0) > 0 else {
            return "skipped: no clue example was accepted, so there is nothing to fine-tune on"
        }
        let start = plan.startRuns.lazy.compactMap(CheckpointStore.newestIfPresent).first?.path ?? model.path
        let recipe = try stageRecipe(plan.settings, kind: plan.kind, modelPath: start, data: plan.data, output: plan.run)
        let trainer = try TrainingSetup.makeTrainer(recipe: recipe)
        var last: StepMetrics?
        var rounds: [String] = []
        do {
            try trainer.run { event in
                if case .step(let m) = event { last = m }
                if case .feedbackRound(let r) = event {
                    rounds.append(String(format: "round %d kept %d of %d eligible (of %d questions)", r.round, r.kept,
                                         r.eligible, r.questions))
                }
                progress(.training(stage, event))
            }
        } catch TrainingDataError.feedbackKeptNothing(let round, _, _, _) where stage == .feedback {
            // Clues that never beat the question alone are a finding about the domain, not a failed run: the stage
            // ends, and export takes the newest checkpoint (an earlier round's, else SFT's).
            rounds.append("round \(round) kept nothing, so the stage stopped at step \(trainer.step)")
        }
        switch stage {
        case .pretrain: state.report.pretrainSteps = trainer.step
        case .sft: state.report.sftSteps = trainer.step
        default: state.report.feedbackSteps = trainer.step
        }
        return "\(trainer.step) steps from \(URL(fileURLWithPath: start).lastPathComponent)"
            + (last.map { String(format: ", last loss %.4f, %.0f input tok/s", $0.loss, $0.inputTokensPerSecond) } ?? "")
            + (rounds.isEmpty ? "" : "; " + rounds.joined(separator: "; "))
    }

    func export() throws -> String {
        guard let checkpoint = [layout.feedbackRun, layout.sftRun, layout.pretrainRun].lazy
            .compactMap(CheckpointStore.newestIfPresent).first
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
