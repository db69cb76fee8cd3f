import ArgumentParser
import Foundation
import Torch
import Training

/// `memorag train RECIPE key=value …`: resolves the recipe, prints it, and trains (resuming with resume=true).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train from a recipe (recipes/*.yaml) with key=value overrides.",
        discussion: """
            Overrides use dotted keys and are typed: optimizer.lr=3e-4 max_steps=500 data.ratios=[2,4,8] resume=true.
            ~key deletes an optional key (~clip_grad_norm). Unknown keys are rejected with the valid ones near them.
            The resolved recipe is printed and saved as OUTPUT_DIR/recipe.yaml; checkpoints go to OUTPUT_DIR/step-N.
            Data-parallel: --nproc-per-node N runs N ranks on this machine; a process started with RANK, WORLD_SIZE,
            MASTER_ADDR and MASTER_PORT set (torchrun --no-python, SLURM, …) is one rank (docs/distributed.md).
            """)

    @Argument(help: "Recipe YAML file (`memorag recipes` lists the bundled ones).") var recipe: String
    @Argument(help: "Overrides: key=value (dotted keys) or ~key.") var overrides: [String] = []
    @Option(name: .customLong("nproc-per-node"),
            help: "Run N data-parallel ranks on this machine (c10d over loopback), the cores split between them.")
    var nprocPerNode: Int?
    @OptionGroup var deviceOption: DeviceOption

    func run() throws {
        var resolved = try RecipeLoader.load(file: URL(fileURLWithPath: recipe), overrides: overrides)
        // --device wins over the recipe's `device` key (as an override would).
        // A bare `cuda` is kept as given: with several ranks it means each rank's own GPU.
        if let device = deviceOption.device {
            resolved.device = device.trimmingCharacters(in: .whitespaces).lowercased() == "cuda" ? "cuda"
                : try deviceOption.choice().description
        }
        if let ranks = nprocPerNode {
            guard ranks >= 1, ranks <= 256 else { throw ValidationError("--nproc-per-node must lie in 1…256, got \(ranks)") }
            // The ranks share the cores unless the recipe says otherwise (bitwise resume needs the same count).
            let threads = resolved.threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / ranks)
            let arguments = [recipe] + overrides + (resolved.threads == nil ? ["threads=\(threads)"] : [])
                + (resolved.device.map { ["device=\($0)"] } ?? [])
            throw ExitCode(try RankLauncher(ranks: ranks, arguments: arguments, threadsPerRank: threads).run())
        }
        let parallel = try RankEnvironment.current().map { try DataParallel($0, settings: resolved.distributed) }
        // Only rank 0 speaks; every rank reports its own errors (on stderr, prefixed by the launcher).
        let speaks = parallel?.isRankZero ?? true
        func say(_ text: String, terminator: String = "\n") { if speaks { print(text, terminator: terminator) } }
        let deviceChoice = try TrainingSetup.deviceChoice(resolved)
        let device = try parallel.map {
            try DeviceChoice.forRank(resolved.device ?? deviceChoice.description, localRank: $0.environment.localRank)
        } ?? deviceChoice.resolve()
        if speaks { announceDevice(device, choice: deviceChoice) }
        if resolved.dtype == "auto" {
            // Measured on this machine: with several ranks, rank 0 measures once and the others take its choice.
            let recipe = resolved
            let choice = try parallel?.shareFromRankZero("dtype") {
                Data(try TrainingSetup.concreteDType(recipe, device: device).utf8)
            }
            resolved.dtype = try choice.map { String(decoding: $0, as: UTF8.self) }
                ?? TrainingSetup.concreteDType(resolved, device: device)
            let rates = ComputeDType.measuredRates
            say("# dtype auto: \(resolved.dtype) (matmul fp32 \(Int(rates.float32)), bf16 \(Int(rates.bfloat16)) GFLOP/s "
                + "here; a resumed run keeps its saved recipe's)")
        }
        say("# resolved recipe (saved as \(resolved.outputDir)/recipe.yaml)")
        say(try RecipeLoader.yaml(resolved), terminator: "")
        let trainer = try TrainingSetup.makeTrainer(recipe: resolved, parallel: parallel)
        let count = trainer.objective.model.trainableParameters().reduce(0) { $0 + $1.tensor.shape.reduce(1, *) }
        let world = parallel.map { " on \($0.worldSize) ranks (\($0.backend.rawValue)), global batch "
            + "\(resolved.batchSize * $0.worldSize) × \(resolved.gradAccumulation) accumulation" } ?? ""
        say("training \(trainer.optimizer.names.count) tensors (\(count) parameters) for \(resolved.maxSteps) steps\(world)")
        let terminal = isatty(STDOUT_FILENO) != 0
        let ranksLabel = parallel.map { "  ×\($0.worldSize) ranks" } ?? ""
        let started = ContinuousClock.now
        // What the loss is a mean over: tokens, or (DPO) preference pairs.
        let countedRate = trainer.objective is DPOObjective ? "%.3f pairs/s" : "%.0f with loss"
        try trainer.run { event in
            guard speaks else { return }
            switch event {
            case .resumed(let step, let url, let removed):
                print("resumed at step \(step) from \(url.path)" + (removed.isEmpty ? "" : " (removed partial: \(removed.joined(separator: ", ")))"))
            case .step(let m):
                let eta = m.step > 0 ? m.elapsed / Double(m.step) * Double(m.maxSteps - m.step) : 0
                let line = String(format: "step %d/%d  loss %.4f  lr %.3g  %.0f tok/s (\(countedRate))  grad %.3f  ETA %@",
                                  m.step, m.maxSteps, m.loss, m.lr, m.inputTokensPerSecond, m.tokensPerSecond,
                                  m.gradNorm, clock(eta)) + ranksLabel
                if terminal {
                    // Unbuffered, so the line shows at once (stdout on a terminal is line-buffered).
                    FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
                } else {
                    print(line)
                }
            case .validation(let step, let loss, let tokens):
                print((terminal ? "\n" : "") + String(format: "step %d  validation loss %.4f (%d tokens)", step, loss, tokens))
            case .checkpoint(let step, let url):
                print((terminal ? "\n" : "") + "step \(step): checkpoint \(url.path)")
            case .resharded(let from, let to):
                print("the checkpoint was written by \(from) rank(s); continuing on \(to) with the data re-sharded "
                      + "from the same global position (not bitwise the run \(from) rank(s) would have made)")
            case .skippedCheckpoint(let name, let reason):
                print("not resuming from \(name): \(reason)")
            case .feedback(let p):
                let line = String(format: "feedback round %d/%d: %d/%d questions scored, %d missed their evidence alone, "
                                  + "%d kept (mean RR gain %.3f)", p.round, p.rounds, p.scored, p.total, p.eligible,
                                  p.kept, p.meanKeptGain)
                if terminal { FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8)) } else { print(line) }
            case .feedbackRound(let r):
                print((terminal ? "\n" : "") + String(
                    format: "feedback round %d (from step %d): %d questions, %d missed their evidence alone, %d kept; "
                        + "mean RR gain best %.3f, per sample %.3f, kept %.3f; scored in %.0f s", r.round, r.step,
                    r.questions, r.eligible, r.kept, r.meanBestGain, r.meanSampleGain, r.meanKeptGain, r.scoringSeconds))
            case .untrainableSamples(let step, let count):
                // The loss of these samples reaches no trainable parameter (e.g. an SFT sample inside one beacon
                // window while only beacons train): counted in the loss, no gradient.
                print((terminal ? "\n" : "") + "step \(step): \(count) sample(s) gave no gradient (nothing trainable "
                      + "reads them, e.g. a sample that fits in one beacon window)")
            }
        }
        if let parallel {
            let total = (ContinuousClock.now - started).seconds
            say(String(format: "communication: %.2f s of %.1f s (%.1f%%) in collectives on rank 0 (transfer and waiting for the slower rank), not overlapped with computation",
                       parallel.communicationSeconds, total, 100 * parallel.communicationSeconds / max(total, 1e-9)))
        }
    }

    private func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }
}
