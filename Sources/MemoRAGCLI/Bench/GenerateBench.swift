import ArgumentParser
import Foundation
import Models
import Torch

/// `memorag bench generate`: SmolLM2-135M prefill and decode tokens/s, ours vs transformers on the same GGUF.
struct GenerateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "SmolLM2-135M prefill and decode tokens/s vs transformers (same GGUF, dtype, threads).")

    @Option(help: "Rounds; each runs every case once per contender.") var rounds = 3
    @Option(help: "Timed repeats inside each run.") var repeats = 2
    @Option(help: "Intra-op threads for every contender.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Comma-separated dtypes: f32, bf16, int8 (f32 activations over int8 weights).") var dtypes = "f32,bf16"
    @Option(help: "Python with torch + transformers + gguf for the peer (default: scripts/peer-venv.sh's venv).")
    var peerPython: String?
    @Flag(help: "Skip the transformers peer.") var noPeer = false
    @Flag(help: "Add llama.cpp (llama-cpp-python built from its sdist by scripts/llamacpp-venv.sh, ~5 min once) running the GGUF as Q4_1.")
    var llamacpp = false

    func run() throws {
        var contenders = [Contender(label: "ours (libtorch \(LibTorch.version))",
                                    command: [Contender.selfExecutable, "bench", "generate-worker"], isOurs: true)]
        if !noPeer {
            let python = try peerPython ?? PeerEnvironment.python()
            contenders.append(Contender(label: "transformers", command: [python, PeerEnvironment.script("Benchmarks/peer/hf_generate.py")], isOurs: false))
        }
        if llamacpp {
            let python = try PeerEnvironment.python(venvScript: "scripts/llamacpp-venv.sh")
            contenders.append(Contender(label: "llama.cpp (Q4_1 weights)",
                                        command: [python, PeerEnvironment.script("Benchmarks/peer/llamacpp_generate.py")], isOurs: false))
        }
        let jobs = dtypes.split(separator: ",").flatMap { d in ["prefill", "decode"].map { (name: $0, dtype: String(d)) } }
        print("SmolLM2-135M-Instruct (GGUF Q4_1 dequantised), \(threads) threads; prefill: 512-token prompt; decode: 64 tokens after 32")
        try InterleavedRun(jobs: jobs, contenders: contenders, rounds: rounds, repeats: repeats, threads: threads).run().printTable()
    }
}

/// One `bench generate` case through our stack (definitions in Benchmarks/peer/hf_generate.py).
struct GenerateWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate-worker", shouldDisplay: false)

    @Option var `case`: String
    @Option var dtype = "f32"
    @Option var repeats = 2
    @Option var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option var model = ModelPaths.defaultGGUF.path
    @Option(help: "Threads while decoding (default: the model's automatic choice).") var decodeThreads: Int?

    func run() throws {
        try LibTorch.setNumThreads(threads)
        let precision = try InferencePrecision.parse(dtype)
        let lm = try DecoderLM.load(gguf: URL(fileURLWithPath: model), dtype: precision.dtype)
        if precision.int8Weights { try lm.quantizeInt8() }
        let prompt = { (n: Int) in (0..<n).map { ($0 * 7919 + 13) % 49152 } }
        var values: [Double] = []
        switch `case` {
        case "prefill":
            let ids = prompt(512)
            func once() throws -> Double {
                let clock = ContinuousClock(), start = clock.now
                _ = try lm.prefill(ids, cache: lm.makeCache(), chunk: 512)
                return 512 / (clock.now - start).seconds
            }
            _ = try once()
            values = try (0..<repeats).map { _ in try once() }
        case "decode":
            let parameters = GenerationParameters(maxNewTokens: 64, decodeThreads: decodeThreads)
            _ = try lm.generate(promptIds: prompt(32), parameters: parameters)
            values = try (0..<repeats).map { _ in try lm.generate(promptIds: prompt(32), parameters: parameters).decodeTokensPerSecond }
        default:
            throw ValidationError("unknown case '\(`case`)' (prefill, decode)")
        }
        let result = WorkerResult(case: `case`, dtype: dtype, metric: "tokens_per_s", values: values, impl: "memorag-swift",
                                     torch: LibTorch.version, threads: threads, inner: 1)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}
