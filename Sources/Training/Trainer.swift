import Foundation
import Models
import NN
import Torch

/// The training loop: micro-batches with token-weighted gradient accumulation, gradient clipping, AdamW under a
/// warmup + decay schedule, periodic validation, metrics.jsonl, and atomic checkpoints it can resume from bitwise.
///
/// With `parallel` the process is one rank of a data-parallel run: every rank computes the gradients of its rows of
/// each global batch, the gradient sums (and the loss and token counts) are all-reduced once per step, after the last
/// micro-batch, so each step is the one a single process would take on the whole global batch; rank 0 alone writes
/// checkpoints and metrics.
///
/// Output dir: `metrics.jsonl`, `recipe.yaml` (written by the caller), and `step-N/` checkpoints (see
/// `CheckpointStore`), each a complete HF model dir — config.json + model.safetensors with **all** weights of the
/// model, so `memorag generate` and `memorag export` take it directly (with LoRA the adapters are in it too, and
/// `memorag export` folds them in first) — plus the files in `extraFiles` (tokenizer),
/// `trainer_state.safetensors` (AdamW moments and step counts) and `trainer_state.json` (`TrainerState`).
public final class Trainer {
    public let recipe: Recipe
    public let objective: TrainingObjective
    public let data: TrainingDataSource
    public let validationData: TrainingDataSource?
    public let optimizer: AdamW
    public let store: CheckpointStore
    public let schedule: LRSchedule
    /// Files copied into every checkpoint (tokenizer.json, tokenizer_config.json, generation_config.json).
    public let extraFiles: [String: Data]
    /// This process's rank in a data-parallel run (nil: a single process).
    public let parallel: DataParallel?
    /// What the passes compute in and the weights are kept in, on the model's device (`TrainingPrecision`).
    public let precision: TrainingPrecision
    /// Where the model lives (it does not move during a run).
    public let device: Device
    public private(set) var step = 0
    /// Samples of the last step whose loss depended on no trainable parameter (see `TrainingObjective`): they
    /// counted in the loss and gave no gradient.
    public private(set) var untrainableSamples = 0

    private let trainable: [Tensor]
    private let validationStart: DataCursor?
    private var tokensSeen = 0
    /// Input tokens read by all ranks (for the throughput line only; not part of the checkpointed state).
    private var inputTokensSeen = 0
    private var elapsedBefore = 0.0
    private var metricsURL: URL { store.directory.appendingPathComponent("metrics.jsonl") }

    /// Freezes the model according to `recipe.trainable` and builds the optimizer over what remains trainable.
    public init(recipe: Recipe, objective: TrainingObjective, data: TrainingDataSource,
                validationData: TrainingDataSource? = nil, extraFiles: [String: Data] = [:],
                parallel: DataParallel? = nil) throws {
        try recipe.validate()
        self.recipe = recipe
        self.parallel = parallel
        self.objective = objective
        self.data = data
        self.validationData = validationData
        self.extraFiles = extraFiles
        self.validationStart = validationData?.cursor
        store = try CheckpointStore(directory: URL(fileURLWithPath: recipe.outputDir))
        schedule = LRSchedule(peak: recipe.optimizer.lr, minLR: recipe.schedule.minLR, warmupSteps: recipe.schedule.warmupSteps,
                              totalSteps: recipe.maxSteps, decay: recipe.schedule.decay)

        let model = objective.model
        device = model.device
        precision = recipe.precision(on: device)
        // LoRA adapters are drawn here: from the recipe's seed, so a run (and every rank of one) starts the same.
        try LibTorch.manualSeed(UInt64(recipe.seed))
        switch recipe.trainable.mode {
        case .full: try model.trainOnly(["*"])
        case .onlyBeacon: try model.trainOnly(["*beacon*"])
        case .patterns: try model.trainOnly(recipe.trainable.patterns ?? [])
        case .lora:
            let t = recipe.trainable
            let targets = model.linears(named: Set(t.loraModules ?? []))
            guard !targets.isEmpty else {
                throw TrainingError.nothingToTrain("no Linear layer is named any of trainable.lora_modules \(t.loraModules ?? [])")
            }
            for target in targets { try target.linear.attachLoRA(rank: t.loraRank ?? 8, alpha: t.loraAlpha ?? 16) }
            try model.trainOnly(["*.lora_A.*", "*.lora_B.*"])
        }
        let parameters = model.trainableParameters()
        guard !parameters.isEmpty else {
            throw TrainingError.nothingToTrain("no parameter matches trainable.mode '\(recipe.trainable.mode.rawValue)'"
                                               + (recipe.trainable.patterns.map { " \($0)" } ?? ""))
        }
        trainable = parameters.map(\.tensor)
        let o = recipe.optimizer
        // Norm weights and biases get no weight decay (the usual GPT/Llama recipe).
        optimizer = try AdamW(parameters: parameters, hyperparameters: .init(
            learningRate: o.lr, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay),
            noDecay: { $0.hasSuffix(".bias") || $0.hasSuffix("norm.weight") })
    }

    /// Trains to `recipe.maxSteps`, resuming first when `recipe.resume` is set and a checkpoint exists.
    public func run(progress: (TrainingEvent) -> Void = { _ in }) throws {
        // A data source with progress of its own (the clue-feedback stage's scoring) reports through `progress`
        // while the run lasts; its round summaries are metrics lines too.
        try withoutActuallyEscaping(progress) { progress in
            let reporting = data as? ReportingDataSource
            reporting?.report = { [unowned self] event in
                if case .feedbackRound(let round) = event { try appendMetrics(round) }
                progress(event)
            }
            defer { reporting?.report = nil }
            try runSteps(progress: progress)
        }
    }

    private func runSteps(progress: (TrainingEvent) -> Void) throws {
        try prepareOrResume(progress: progress)
        // A fresh run measures the starting point first, so every run's metrics show what training changed.
        if step == 0, validationData != nil { try recordValidation(progress: progress) }
        let clock = ContinuousClock(), start = clock.now
        var windowTokens = 0, windowInputTokens = 0, windowStart = clock.now
        while step < recipe.maxSteps {
            let inputBefore = inputTokensSeen
            let (loss, tokens, gradNorm) = try trainStep()
            if untrainableSamples > 0 { progress(.untrainableSamples(step: step, count: untrainableSamples)) }
            windowTokens += tokens
            windowInputTokens += inputTokensSeen - inputBefore
            guard loss.isFinite else { throw TrainingError.nonFiniteLoss(step: step, loss: loss) }
            let elapsed = elapsedBefore + (clock.now - start).seconds
            let logged = step % recipe.log.every == 0 || step == recipe.maxSteps
            if logged {
                let window = max((clock.now - windowStart).seconds, 1e-9)
                let metrics = StepMetrics(step: step, maxSteps: recipe.maxSteps, loss: loss, lr: optimizer.learningRate,
                                          tokensPerSecond: Double(windowTokens) / window,
                                          inputTokensPerSecond: Double(windowInputTokens) / window,
                                          gradNorm: gradNorm, elapsed: elapsed)
                try appendMetrics(metrics)
                progress(.step(metrics))
            }
            if validationData != nil, step % recipe.validation.every == 0 || step == recipe.maxSteps {
                try recordValidation(progress: progress)
            }
            if step % recipe.checkpoint.every == 0 || step == recipe.maxSteps {
                if let url = try saveCheckpoint(elapsed: elapsed) { progress(.checkpoint(step: step, url: url)) }
            }
            if logged {  // the rate window restarts after validation and checkpoint time
                windowTokens = 0
                windowInputTokens = 0
                windowStart = clock.now
            }
        }
        // No rank reports success before rank 0's last checkpoint is on disk.
        try parallel?.barrier("the end of the run")
    }

    /// Validation loss at the current step, into metrics.jsonl and `progress`.
    private func recordValidation(progress: (TrainingEvent) -> Void) throws {
        let (valLoss, valTokens) = try validate()
        try appendMetrics(ValidationLine(step: step, valLoss: valLoss, valTokens: valTokens))
        progress(.validation(step: step, loss: valLoss, tokens: valTokens))
    }

    /// One optimizer step: `grad_accumulation` micro-batches, gradients divided by all their counted tokens, clipped,
    /// AdamW at the scheduled rate. Returns the step's mean loss per token, the token count and the gradient norm
    /// before clipping.
    public func trainStep() throws -> (loss: Double, tokens: Int, gradNorm: Double) {
        optimizer.learningRate = schedule.rate(at: step)
        var lossSum = 0.0, tokens = 0, untrainable = 0, inputTokens = 0
        for _ in 0..<recipe.gradAccumulation {
            let batch = try data.next()
            inputTokens += batch.inputIds.shape.reduce(1, *)
            let out = try computing { try objective.accumulateGradients(batch) }
            lossSum += out.lossSum
            tokens += out.tokens
            untrainable += out.untrainableSamples
        }
        if let parallel {
            // Accumulation stays local; the ranks meet once per step, after the last micro-batch.
            try parallel.sumGradients(trainable, step: step + 1)
            let totals = try parallel.sum([lossSum, Double(tokens), Double(untrainable), Double(inputTokens)],
                                          what: "the loss and token counts of step \(step + 1)")
            lossSum = totals[0]
            (tokens, untrainable, inputTokens) = (Int(totals[1]), Int(totals[2]), Int(totals[3]))
        }
        inputTokensSeen += inputTokens
        untrainableSamples = untrainable
        // Gradients of the summed losses, divided once by all counted tokens: the mean over the whole step. That
        // division and the clipping coefficient are one scale the optimizer applies as it reads each gradient. With
        // several ranks the gradients are already the sums over all of them, so the norm is the global one.
        let meanScale = 1 / Double(max(tokens, 1))
        let gradNorm = try Torch.gradNorm(trainable) * meanScale
        var clipScale = 1.0
        if let maxNorm = recipe.clipGradNorm, maxNorm > 0 { clipScale = min(1, maxNorm / (gradNorm + 1e-6)) }
        try optimizer.step(gradScale: meanScale * clipScale)
        try optimizer.zeroGrad()
        step += 1
        tokensSeen += tokens
        return (lossSum / Double(max(tokens, 1)), tokens, gradNorm)
    }

    /// Mean loss per token over the first `validation.batches` batches of the validation source (the same batches
    /// every time; with several ranks each computes its rows and the sums are all-reduced).
    public func validate() throws -> (loss: Double, tokens: Int) {
        guard let validationData, let validationStart else { return (.nan, 0) }
        try validationData.restore(validationStart)
        var sum = 0.0, tokens = 0
        try withNoGrad {
            for _ in 0..<recipe.validation.batches {
                let out = try computing { try objective.loss(validationData.next()) }
                sum += try out.sum.item()
                tokens += out.tokens
            }
        }
        if let parallel {
            let totals = try parallel.sum([sum, Double(tokens)], what: "the validation loss at step \(step)")
            (sum, tokens) = (totals[0], Int(totals[1]))
        }
        return (sum / Double(max(tokens, 1)), tokens)
    }

    /// Runs a forward (and backward) pass in the compute dtype: under autocast where it differs from the weights'.
    private func computing<T>(_ body: () throws -> T) throws -> T {
        guard precision.isMixed else { return try body() }
        return try withAutocast(precision.compute, on: device, body)
    }

    // MARK: - Start, resume, checkpoints

    /// A fresh start, or — with `resume` and a checkpoint in the output dir — a resume from the newest complete
    /// checkpoint (weights, optimizer moments, data cursor, RNG, step, metrics). Checkpoints that cannot be resumed
    /// from (`step-N/` dirs missing files, unreadable trainer state) are skipped and reported, not fatal.
    private func prepareOrResume(progress: (TrainingEvent) -> Void) throws {
        try LibTorch.manualSeed(UInt64(recipe.seed))
        // Any step-N dir, even an incomplete one, is a run this process must not silently replace.
        guard !store.holdsARun || recipe.resume else { throw TrainingError.outputExists(path: store.directory.path) }
        let writes = parallel?.isRankZero ?? true
        let removed = writes ? try store.removeLeftovers() : []
        var chosen = writes ? newestResumable(progress: progress) : nil
        if let parallel {
            // Rank 0 chooses; every rank resumes from the same checkpoint (the output dir must be shared).
            let name = try parallel.shareFromRankZero("resume-from") { Data((chosen?.url.lastPathComponent ?? "").utf8) }
            let checkpoint = String(decoding: name, as: UTF8.self)
            if !parallel.isRankZero, !checkpoint.isEmpty {
                let url = store.directory.appendingPathComponent(checkpoint)
                chosen = (url, try TrainerState.read(from: url))
            }
        }
        if let (url, state) = chosen {
            try loadWeightsInPlace(from: url)
            try optimizer.load(from: url.appendingPathComponent(TrainerState.optimizerFileName))
            let saved = state.worldSize ?? 1, now = parallel?.worldSize ?? 1
            // The same world size continues each rank exactly; another one continues from rank 0's position.
            let mine = saved == now ? state.ranks?.first { $0.rank == (parallel?.rank ?? 0) } : nil
            try data.restore(mine?.dataCursor ?? state.dataCursor)
            try LibTorch.setRNGState(TrainerState.decodeRNG(mine?.rngState ?? state.rngState))
            step = state.step
            tokensSeen = state.tokensSeen
            elapsedBefore = state.elapsed
            if writes { try truncateMetrics(to: state.metricsOffset) }
            progress(.resumed(step: step, from: url, removedLeftovers: removed))
            if saved != now { progress(.resharded(from: saved, to: now)) }
        } else if writes {
            try? FileManager.default.removeItem(at: metricsURL)
        }
        // Every rank starts from rank 0's weights (fresh beacon or LoRA parameters included).
        try parallel?.broadcast(objective.model.parameters().map(\.tensor))
    }

    /// The newest complete checkpoint whose trainer state reads, reporting the ones skipped on the way.
    private func newestResumable(progress: (TrainingEvent) -> Void) -> (url: URL, state: TrainerState)? {
        for (name, reason) in store.incomplete() { progress(.skippedCheckpoint(name: name, reason: reason)) }
        for candidate in store.checkpoints().reversed() {
            do {
                return (candidate.url, try TrainerState.read(from: candidate.url))
            } catch {
                progress(.skippedCheckpoint(name: candidate.url.lastPathComponent, reason: error.localizedDescription))
            }
        }
        return nil
    }

    /// Copies a checkpoint's weights into the model's existing tensors. (`Module.update` would install new tensor
    /// objects, leaving the optimizer stepping the old ones.)
    private func loadWeightsInPlace(from checkpoint: URL) throws {
        let weights = try SafetensorsCheckpoint(directory: checkpoint).tensors()
        let parameters = objective.model.parameters()
        let expected = Set(parameters.map(\.name)), found = Set(weights.keys)
        guard expected == found else {
            throw TrainingError.checkpoint(path: checkpoint.path, reason: "weights do not fit the model (missing: "
                + "\(expected.subtracting(found).sorted().prefix(5)), unexpected: \(found.subtracting(expected).sorted().prefix(5)))")
        }
        for (name, tensor) in parameters {
            let saved = weights[name]!
            guard saved.shape == tensor.shape, saved.dtype == tensor.dtype else {
                throw TrainingError.checkpoint(path: checkpoint.path,
                    reason: "\(name) is \(saved.dtype) \(saved.shape) but the model has \(tensor.dtype) \(tensor.shape)")
            }
            try withNoGrad { try tensor.copyFrom(saved) }
        }
    }

    /// Writes `step-N/` (rank 0) and returns it; the other ranks hand rank 0 their cursor and RNG state and return nil.
    private func saveCheckpoint(elapsed: Double) throws -> URL? {
        let rngState = try TrainerState.encodeRNG(LibTorch.rngState())
        var state = TrainerState(step: step, rngState: rngState, dataCursor: data.cursor, metricsOffset: metricsSize(),
                                 tokensSeen: tokensSeen, elapsed: elapsed, recipe: recipe)
        if let parallel {
            let mine = TrainerState.RankState(rank: parallel.rank, dataCursor: data.cursor, rngState: rngState)
            let gathered = try parallel.gatherOnRankZero("checkpoint-\(step)", JSONEncoder().encode(mine))
            guard let gathered else { return nil }
            state.worldSize = parallel.worldSize
            state.ranks = try gathered.map { try JSONDecoder().decode(TrainerState.RankState.self, from: $0) }
        }
        let model = objective.model
        return try store.save(step: step, keepLast: recipe.checkpoint.keepLast) { dir in
            let weights = Dictionary(uniqueKeysWithValues: model.parameters().map { ($0.name, $0.tensor) })
            let dtype = weights.values.first?.dtype ?? .float32
            try Safetensors.save(weights, metadata: ["format": "pt"], to: dir.appendingPathComponent("model.safetensors"))
            try DurableFile.write(objective.configJSON(dtype: dtype), to: dir.appendingPathComponent("config.json"))
            for (name, contents) in extraFiles { try DurableFile.write(contents, to: dir.appendingPathComponent(name)) }
            try optimizer.save(to: dir.appendingPathComponent(TrainerState.optimizerFileName))
            try state.write(to: dir)
        }
    }

    // MARK: - metrics.jsonl

    private struct ValidationLine: Encodable {
        var step: Int
        var valLoss: Double
        var valTokens: Int
        enum CodingKeys: String, CodingKey { case step, valLoss = "val_loss", valTokens = "val_tokens" }
    }

    private func appendMetrics<T: Encodable>(_ line: T) throws {
        guard parallel?.isRankZero ?? true else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var data = try encoder.encode(line)
        data.append(0x0A)
        if !FileManager.default.fileExists(atPath: metricsURL.path) {
            _ = FileManager.default.createFile(atPath: metricsURL.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: metricsURL)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    }

    private func metricsSize() -> UInt64 {
        let attributes = try? FileManager.default.attributesOfItem(atPath: metricsURL.path)
        return (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    private func truncateMetrics(to size: UInt64) throws {
        guard FileManager.default.fileExists(atPath: metricsURL.path) else { return }
        let handle = try FileHandle(forWritingTo: metricsURL)
        defer { try? handle.close() }
        try handle.truncate(atOffset: min(size, metricsSize()))
    }
}
