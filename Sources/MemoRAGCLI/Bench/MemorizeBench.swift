import ArgumentParser
import Foundation
import Models
import Torch

/// `memorag bench memorize`: tokens/s of beacon compression (and of a training step) on SmolLM2-135M + beacon
/// parameters, ours vs the Activation Beacon reference implementation on the same weights and threads.
struct MemorizeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memorize",
        abstract: "Beacon compression tokens/s and peak RSS on SmolLM2-135M + beacon vs the reference implementation.",
        discussion: """
            The model is the SmolLM2 GGUF dequantised to an HF directory with beacon keys (window 1024) and fresh
            beacon parameters (EOS embedding, copied projections, as both implementations initialise them), made once
            under $MEMORAG_CACHE/bench/. The reference (FlagEmbedding activation_beacon/src, extracted with
            `git archive` to --reference) runs in the venv of scripts/beacon-ref-venv.sh.
            Cases: rR_Nk memorizes N×1024 tokens at ratio R; train_rR_Nk is one training step (loss + backward,
            only beacon parameters trainable) on an N×1024-token sample; recompute_rR_Nk the same step in bounded
            memory (ours: window-level recomputation; the reference: its per-layer gradient checkpointing).
            """)

    @Option(help: "Rounds; each runs every case once per contender.") var rounds = 1
    @Option(help: "Timed repeats inside each run.") var repeats = 1
    @Option(help: "Intra-op threads for every contender.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Comma-separated cases.") var cases = "r4_8k,r8_8k,r16_8k,r4_32k,r8_32k,r16_32k,r4_100k,r8_100k,r16_100k,train_r8_2k"
    @Option(help: "The reference's src directory.")
    var reference = ModelPaths.cache.appendingPathComponent("beacon-ref/research/Long_LLM/activation_beacon/src").path
    @Option(help: "Python for the reference (default: scripts/beacon-ref-venv.sh's venv).") var peerPython: String?
    @Flag(help: "Skip the reference.") var noPeer = false
    @Flag(help: "Add ours on int8 weights (fp32 activations) as a further contender; the reference stays fp32.")
    var int8 = false

    func run() throws {
        let model = try MemorizeBenchModel.prepare()
        var contenders = [Contender(label: "ours (libtorch \(LibTorch.version))",
                                    command: [Contender.selfExecutable, "bench", "memorize-worker", "--model", model.path],
                                    isOurs: true)]
        if int8 {
            contenders.append(Contender(label: "ours, int8 weights",
                                        command: [Contender.selfExecutable, "bench", "memorize-worker", "--model", model.path,
                                                  "--int8"], isOurs: true))
        }
        if !noPeer {
            guard FileManager.default.fileExists(atPath: reference + "/modeling_beacon.py") else {
                throw ValidationError("\(reference): no modeling_beacon.py; extract the reference there or give --reference")
            }
            let python = try peerPython ?? PeerEnvironment.python(venvScript: "scripts/beacon-ref-venv.sh")
            contenders.append(Contender(label: "reference (activation_beacon)", command: [
                python, PeerEnvironment.script("Benchmarks/peer/beacon_memorize.py"), "--model", model.path,
                "--reference", reference,
            ], isOurs: false))
        }
        let jobs = cases.split(separator: ",").map { (name: String($0), dtype: "f32") }
        print("SmolLM2-135M + beacon (window 1024, q/k/v beacon projections), f32, \(threads) threads; model dir \(model.path)")
        let results = try InterleavedRun(jobs: jobs, contenders: contenders, rounds: rounds, repeats: repeats, threads: threads).run()
        results.printTable()
        print("\npeak RSS (MB, max over runs):")
        for (name, _) in jobs {
            let line = contenders.map { c in
                let rss = results.peakRSS["\(name)|f32|\(c.label)"].map { String(format: "%.0f", $0) } ?? "-"
                return "\(c.label): \(rss)"
            }.joined(separator: "   ")
            print("  " + name.padding(toLength: 14, withPad: " ", startingAt: 0) + line)
        }
    }
}

/// One case through our stack (definitions in Benchmarks/peer/beacon_memorize.py).
struct MemorizeWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "memorize-worker", shouldDisplay: false)

    @Option var `case`: String
    @Option var dtype = "f32"
    @Option var repeats = 1
    @Option var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option var model: String
    @Flag var int8 = false
    @OptionGroup var deviceOption: DeviceOption

    func run() throws {
        try LibTorch.setNumThreads(threads)
        let device = try deviceOption.resolve()
        let lm = try DecoderLM.load(directory: URL(fileURLWithPath: model), dtype: try ComputeDType.parse(dtype))
        try lm.move(to: device)
        let spec = try MemorizeBenchCase(`case`)
        if int8 {
            guard !spec.training else { throw ValidationError("int8 weights are for inference only") }
            try lm.quantizeInt8()
        }
        let ids = MemorizeBenchCase.ids(spec.tokens)
        let clock = ContinuousClock()
        var values: [Double] = []
        if spec.training {
            try lm.trainOnlyBeacon()
            for _ in 0..<repeats {
                let start = clock.now
                if spec.recompute {
                    _ = try lm.beaconLossBackward(inputIds: ids, rule: .fixed(spec.ratio))
                } else {
                    let (loss, _) = try lm.beaconLoss(inputIds: ids, rule: .fixed(spec.ratio))
                    try loss.backward()
                }
                try device.synchronize()
                values.append(Double(spec.tokens) / (clock.now - start).seconds)
                for p in lm.trainableParameters() { try p.tensor.zeroGrad() }
            }
        } else {
            for _ in 0..<repeats {
                let memory = try lm.makeBeaconMemory(ratio: spec.ratio)
                let start = clock.now
                try lm.memorize(ids, into: memory)
                try device.synchronize()
                values.append(Double(spec.tokens) / (clock.now - start).seconds)
            }
        }
        var result = WorkerResult(case: `case`, dtype: dtype, metric: "tokens_per_s", values: values, impl: "memorag-swift",
                                  torch: LibTorch.version, threads: threads, inner: 1)
        result.peak_rss_mb = peakRSSMegabytes()
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}

/// `rR_Nk` / `train_rR_Nk` / `recompute_rR_Nk`.
struct MemorizeBenchCase {
    var ratio: Int
    var tokens: Int
    var training: Bool
    var recompute: Bool

    init(_ name: String) throws {
        recompute = name.hasPrefix("recompute_")
        training = recompute || name.hasPrefix("train_")
        let body = recompute ? String(name.dropFirst(10)) : training ? String(name.dropFirst(6)) : name
        let parts = body.split(separator: "_")
        guard parts.count == 2, parts[0].hasPrefix("r"), parts[1].hasSuffix("k"),
              let r = Int(parts[0].dropFirst()), let k = Int(parts[1].dropLast()), r > 0, k > 0
        else { throw ValidationError("case '\(name)' is not rR_Nk or train_rR_Nk") }
        (ratio, tokens) = (r, k * 1024)
    }

    /// The same ids the peer uses.
    static func ids(_ n: Int) -> [Int] { (0..<n).map { ($0 * 7919 + 13) % 49152 } }
}

/// The bench model directory: the SmolLM2 GGUF as HF safetensors plus beacon keys; beacon tensors are left out so
/// both implementations initialise them the same way (EOS embedding, copies of q/k/v).
enum MemorizeBenchModel {
    static func prepare() throws -> URL {
        let dir = ModelPaths.cache.appendingPathComponent("bench/smollm2-135m-beacon")
        let config = dir.appendingPathComponent("config.json")
        if FileManager.default.fileExists(atPath: config.path) { return dir }
        _ = try GGUFConversion.convert(gguf: ModelPaths.defaultGGUF, to: dir, tokenizerFiles: { _ in [:] })
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as! [String: Any]
        let beacon = try JSONSerialization.jsonObject(with: JSONEncoder().encode(
            BeaconSettings(window: 1024, ratios: [4, 8, 16], ratioMix: "step-random", parameters: ["q", "k", "v"]))) as! [String: Any]
        object.merge(beacon) { _, new in new }
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: config, options: .atomic)
        return dir
    }
}

/// The process's peak resident set (`VmHWM` of /proc/self/status, in kB).
func peakRSSMegabytes() -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
    else { return nil }
    return kilobytes / 1024
}
