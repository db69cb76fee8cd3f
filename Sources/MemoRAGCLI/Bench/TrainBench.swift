import ArgumentParser
import Foundation
import Models
import Torch
import Training

/// `memorag bench train`: tokens/s of one causal-LM training step of SmolLM2-135M (every parameter trains) vs
/// PyTorch eager on the same GGUF, sample, dtype and threads, and model FLOP utilisation against the measured matmul
/// peak of the dtype (definitions in Benchmarks/peer/torch_train.py).
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "SmolLM2-135M training-step tokens/s and MFU vs PyTorch eager (same GGUF, dtype, threads).")

    @Option(help: "Rounds; each runs every case once per contender.") var rounds = 2
    @Option(help: "Timed repeats inside each run.") var repeats = 2
    @Option(help: "Intra-op threads for every contender.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Comma-separated dtypes.") var dtypes = "f32,bf16"
    @Option(help: "Python with torch + transformers + gguf for the peer (default: scripts/peer-venv.sh's venv).")
    var peerPython: String?
    @Flag(help: "Skip the PyTorch peer.") var noPeer = false

    func run() throws {
        var contenders = [Contender(label: "ours (libtorch \(LibTorch.version))",
                                    command: [Contender.selfExecutable, "bench", "train-worker"], isOurs: true)]
        if !noPeer {
            let python = try peerPython ?? PeerEnvironment.python()
            let script = PeerEnvironment.script("Benchmarks/peer/torch_train.py")
            contenders.append(Contender(label: "pytorch eager", command: [python, script], isOurs: false))
            // PyTorch's default AdamW for CPU parameters is the single-tensor path; its fused kernel is one flag away.
            contenders.append(Contender(label: "pytorch eager, fused AdamW", command: [python, script, "--adamw", "fused"],
                                        isOurs: false))
        }
        let wanted = dtypes.split(separator: ",").map(String.init)
        let jobs = wanted.flatMap { d in ["lm_step", "matmul_peak"].map { (name: $0, dtype: d) } }
        let config = try DecoderLM.decoderConfig(of: GGUFFile(url: ModelPaths.defaultGGUF))
        let flops = ModelFLOPs(config: config, length: TrainWorker.length)
        print("SmolLM2-135M-Instruct (GGUF Q4_1 dequantised), \(threads) threads; one training step of 1×\(TrainWorker.length) tokens, "
              + "all parameters, AdamW, clip 1.0")
        let results = try InterleavedRun(jobs: jobs, contenders: contenders, rounds: rounds, repeats: repeats, threads: threads).run()
        results.printTable()

        print("\nmodel FLOPs per token: 6N + 12·L·d·T = \(String(format: "%.3f", flops.perToken / 1e9)) GFLOP "
              + "(N = \(String(format: "%.1f", Double(flops.matmulParameters) / 1e6))M matmul parameters incl. lm_head, T = \(TrainWorker.length))")
        print("dtype  contender                         tokens/s    GFLOP/s     peak GFLOP/s  MFU     ours ÷ this (median)")
        for dtype in wanted {
            // One yardstick per dtype: the best 2048² matmul any contender measured.
            let peak = contenders.compactMap { results.samples["matmul_peak|\(dtype)|\($0.label)"]?.max() }.max() ?? .nan
            let ours = contenders.first(where: \.isOurs).flatMap { results.samples["lm_step|\(dtype)|\($0.label)"] }.map(Stats.median)
            for runner in contenders {
                guard let values = results.samples["lm_step|\(dtype)|\(runner.label)"], !values.isEmpty else { continue }
                let tokensPerSecond = Stats.median(values)
                let achieved = tokensPerSecond * flops.perToken / 1e9
                let ratio = runner.isOurs ? "" : ours.map { String(format: "%.2f×", $0 / tokensPerSecond) } ?? ""
                print(dtype.padding(toLength: 7, withPad: " ", startingAt: 0) + runner.label.padding(toLength: 34, withPad: " ", startingAt: 0)
                      + String(format: "%-12.1f%-12.1f%-14.1f", tokensPerSecond, achieved, peak)
                      + String(format: "%.1f%%", 100 * achieved / peak).padding(toLength: 8, withPad: " ", startingAt: 0) + ratio)
            }
        }
    }
}

/// Training FLOPs per token of a decoder (the PaLM appendix-B estimate nanoGPT uses): 6 per matmul parameter
/// (forward 2, backward 4) plus attention scores and values, 12·layers·d·T (counted without the causal half).
struct ModelFLOPs {
    let matmulParameters: Int
    let perToken: Double

    init(config c: DecoderConfig, length: Int) {
        let q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim
        let layer = c.hiddenSize * q + 2 * c.hiddenSize * kv + q * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize
        matmulParameters = c.numHiddenLayers * layer + c.hiddenSize * c.vocabSize
        perToken = 6 * Double(matmulParameters) + 12 * Double(c.numHiddenLayers * q * length)
    }
}

/// One `bench train` case through our stack: the trainer's own step (`Trainer.trainStep`).
struct TrainWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train-worker", shouldDisplay: false)
    static let length = 256

    @Option var `case`: String
    @Option var dtype = "f32"
    @Option var repeats = 2
    @Option var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option var model = ModelPaths.defaultGGUF.path
    @OptionGroup var deviceOption: DeviceOption

    func run() throws {
        try LibTorch.setNumThreads(threads)
        let device = try deviceOption.resolve()
        let values: [Double]
        let metric: String
        switch `case` {
        case "lm_step": (metric, values) = ("tokens_per_s", try lmStep(device))
        case "matmul_peak": (metric, values) = ("gflops", try matmulPeak(device))
        default: throw ValidationError("unknown case '\(`case`)' (lm_step, matmul_peak)")
        }
        let result = WorkerResult(case: `case`, dtype: dtype, metric: metric, values: values, impl: "memorag-swift",
                                  torch: LibTorch.version, threads: threads, inner: 1)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }

    private func lmStep(_ device: Device) throws -> [Double] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-bench-train-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokens = dir.appendingPathComponent("sample.json")
        try JSONEncoder().encode([(0..<Self.length).map { ($0 * 7919 + 13) % 49152 }]).write(to: tokens)
        let recipe = try RecipeLoader.resolve(yaml: """
            model: {path: "\(model)"}
            data: {train: "\(tokens.path)", min_length: \(Self.length), max_length: \(Self.length)}
            stage: lm
            trainable: {mode: full}
            optimizer: {lr: 1.0e-5, betas: [0.9, 0.95], weight_decay: 0.1, eps: 1.0e-8}
            schedule: {warmup_steps: 0, decay: constant, min_lr: 0.0}
            max_steps: 1000
            batch_size: 1
            grad_accumulation: 1
            clip_grad_norm: 1.0
            dtype: \(dtype == "bf16" ? "bf16" : "fp32")
            checkpoint: {every: 1000, keep_last: 1}
            validation: {every: 1000, batches: 1}
            log: {every: 1}
            seed: 0
            threads: \(threads)
            output_dir: "\(dir.appendingPathComponent("run").path)"
            resume: false
            device: "\(device)"
            """, source: "bench recipe")
        let trainer = try TrainingSetup.makeTrainer(recipe: recipe)
        func timed() throws -> Double {
            let clock = ContinuousClock(), start = clock.now
            _ = try trainer.trainStep()
            try device.synchronize()
            return Double(Self.length) / (clock.now - start).seconds
        }
        _ = try timed()
        _ = try timed()
        return try (0..<repeats).map { _ in try timed() }
    }

    private func matmulPeak(_ device: Device) throws -> [Double] {
        try LibTorch.manualSeed(0)
        let d = try ComputeDType.parse(dtype)
        let a = try Tensor.randn([2048, 2048], device: device).to(d), b = try Tensor.randn([2048, 2048], device: device).to(d)
        for _ in 0..<2 { _ = try a.matmul(b) }
        try device.synchronize()
        return try (0..<repeats).map { _ in
            let clock = ContinuousClock(), start = clock.now
            for _ in 0..<5 { _ = try a.matmul(b) }
            try device.synchronize()
            return 2 * pow(2048, 3) * 5 / (clock.now - start).seconds / 1e9
        }
    }
}
