import ArgumentParser
import Foundation
import Torch

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print our figure, the peer's figure from the same run, and the ratio.",
        subcommands: [OpsBench.self, OpsWorker.self, GenerateBench.self, GenerateWorker.self, TokenizeBench.self, TokenizeWorker.self,
                      MemorizeBench.self, MemorizeWorker.self, EmbedBench.self, EmbedWorker.self, PipelineBench.self,
                      TrainBench.self, TrainWorker.self, ServeBench.self, DistributedBench.self, DistributedWorker.self,
                      StartBench.self, StartWorker.self]
    )
}

/// `memorag bench ops-worker`: one case, one JSON line (the protocol of Benchmarks/peer/torch_ops.py).
struct OpsWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops-worker", abstract: "Run one `bench ops` case through our stack and print one JSON line.",
        shouldDisplay: false)

    @Option(help: "Case: \(OpsCases.names.joined(separator: ", ")).") var `case`: String
    @Option(help: "f32 or bf16.") var dtype = "f32"
    @Option(help: "Timed repeats.") var repeats = 5
    @Option(help: "Intra-op threads (default: all cores).") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        try LibTorch.setNumThreads(threads)
        try LibTorch.manualSeed(0)
        let (metric, values, inner) = try OpsCases.run(case: `case`, dtype: try ComputeDType.parse(dtype), repeats: repeats)
        let result = WorkerResult(
            case: `case`, dtype: dtype, metric: metric, values: values, impl: "memorag-swift", torch: LibTorch.version,
            threads: threads, inner: inner)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }
}

/// `memorag bench ops`: interleaves our worker, any extra contenders (e.g. our stack built against another libtorch)
/// and the PyTorch eager peer, round after round, then reports best and median per case.
struct OpsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Per-op overhead, matmul and attention GFLOP/s, and a small Llama training step vs PyTorch eager.")

    @Option(help: "Rounds; each runs every case once per contender.") var rounds = 3
    @Option(help: "Timed repeats inside each run.") var repeats = 3
    @Option(help: "Intra-op threads for every contender.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Comma-separated cases.") var cases = "overhead,crossing,matmul_1024,matmul_4096x576x1536,attention_smollm2,llama_step"
    @Option(help: "Comma-separated dtypes for the matmul, attention and training-step cases.") var dtypes = "f32,bf16"
    @Option(help: "Python with torch for the peer (default: the venv of scripts/peer-venv.sh, made on first use).")
    var peerPython: String?
    @Option(name: .customLong("contender"), help: "Extra contender 'LABEL=COMMAND' speaking the ops-worker protocol.")
    var contenders: [String] = []
    @Flag(help: "Skip the PyTorch peer.") var noPeer = false

    func run() throws {
        let features = CPUFeatures.detect()
        print("CPU: \(features.summary)")
        print("compute dtype chosen: \(try ComputeDType.choose(features: features)) (override with MEMORAG_DTYPE)")
        print("libtorch \(LibTorch.version), \(threads) threads, OMP_WAIT_POLICY=\(ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "unset")")

        var runners: [Contender] = [Contender(label: "ours (libtorch \(LibTorch.version))", command: [Contender.selfExecutable, "bench", "ops-worker"], isOurs: true)]
        for spec in contenders {
            guard let eq = spec.firstIndex(of: "=") else { throw ValidationError("--contender needs LABEL=COMMAND, got '\(spec)'") }
            runners.append(Contender(label: String(spec[..<eq]), command: ["/bin/sh", "-c", String(spec[spec.index(after: eq)...]) + " \"$@\"", "sh"], isOurs: true))
        }
        if !noPeer {
            let python = try peerPython ?? PeerEnvironment.python()
            runners.append(Contender(label: "pytorch eager", command: [python, PeerEnvironment.script("Benchmarks/peer/torch_ops.py")], isOurs: false))
        }

        let results = try InterleavedRun(jobs: plan(), contenders: runners, rounds: rounds, repeats: repeats, threads: threads)
            .run { name, runner in !(name == "crossing" && !runner.isOurs) }
        results.printTable()
    }

    private func plan() -> [(String, String)] {
        let wantedDtypes = dtypes.split(separator: ",").map(String.init)
        return cases.split(separator: ",").flatMap { name -> [(String, String)] in
            let name = String(name)
            let perDtype = ["matmul_1024", "matmul_4096x576x1536", "attention_smollm2", "llama_step"].contains(name)
            return perDtype ? wantedDtypes.map { (name, $0) } : [(name, "f32")]
        }
    }

}

