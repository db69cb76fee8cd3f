import ArgumentParser
import Foundation
import Torch

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print our figure, the peer's figure from the same run, and the ratio.",
        subcommands: [OpsBench.self, OpsWorker.self]
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
        let result = OpsCases.Result(
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

        var runners: [Contender] = [Contender(label: "ours (libtorch \(LibTorch.version))", command: [selfExecutable(), "bench", "ops-worker"], isOurs: true)]
        for spec in contenders {
            guard let eq = spec.firstIndex(of: "=") else { throw ValidationError("--contender needs LABEL=COMMAND, got '\(spec)'") }
            runners.append(Contender(label: String(spec[..<eq]), command: ["/bin/sh", "-c", String(spec[spec.index(after: eq)...]) + " \"$@\"", "sh"], isOurs: true))
        }
        if !noPeer {
            let python = try peerPython ?? PeerEnvironment.python()
            runners.append(Contender(label: "pytorch eager", command: [python, PeerEnvironment.script("Benchmarks/peer/torch_ops.py")], isOurs: false))
        }

        let jobs = plan()
        var samples: [String: [Double]] = [:]   // "case|dtype|label" → values
        var metrics: [String: String] = [:]
        var versions: [String: String] = [:]
        for round in 1...rounds {
            for (name, dtype) in jobs {
                for runner in runners where !(name == "crossing" && !runner.isOurs) {
                    let result = try runner.run(case: name, dtype: dtype, repeats: repeats, threads: threads)
                    samples["\(name)|\(dtype)|\(runner.label)", default: []] += result.values
                    metrics["\(name)|\(dtype)"] = result.metric
                    versions[runner.label] = "\(result.impl) torch \(result.torch)"
                }
            }
            FileHandle.standardError.write(Data("round \(round)/\(rounds) done\n".utf8))
        }
        report(jobs: jobs, runners: runners, samples: samples, metrics: metrics, versions: versions)
    }

    private func plan() -> [(String, String)] {
        let wantedDtypes = dtypes.split(separator: ",").map(String.init)
        return cases.split(separator: ",").flatMap { name -> [(String, String)] in
            let name = String(name)
            let perDtype = ["matmul_1024", "matmul_4096x576x1536", "attention_smollm2", "llama_step"].contains(name)
            return perDtype ? wantedDtypes.map { (name, $0) } : [(name, "f32")]
        }
    }

    private func report(jobs: [(String, String)], runners: [Contender], samples: [String: [Double]],
                        metrics: [String: String], versions: [String: String]) {
        print("")
        for (label, version) in versions.sorted(by: { $0.key < $1.key }) { print("  \(label): \(version)") }
        print("")
        print("case                          dtype  contender                         best        median      vs peer (median)")
        let peer = runners.first { !$0.isOurs }
        for (name, dtype) in jobs {
            let metric = metrics["\(name)|\(dtype)"] ?? "?"
            let lowerIsBetter = metric == "us_per_op"
            let peerMedian = peer.flatMap { samples["\(name)|\(dtype)|\($0.label)"] }.map(Stats.median)
            for runner in runners {
                guard let values = samples["\(name)|\(dtype)|\(runner.label)"], !values.isEmpty else { continue }
                let best = lowerIsBetter ? values.min()! : values.max()!
                let median = Stats.median(values)
                var ratio = ""
                if runner.isOurs, let p = peerMedian, p > 0, median > 0 {
                    ratio = String(format: "%.2f×", lowerIsBetter ? p / median : median / p)
                }
                print(name.padding(toLength: 30, withPad: " ", startingAt: 0) + dtype.padding(toLength: 7, withPad: " ", startingAt: 0)
                      + runner.label.padding(toLength: 34, withPad: " ", startingAt: 0)
                      + String(format: "%-12.4g%-12.4g", best, median) + "\(metric) " + ratio)
            }
        }
        print("\nratios > 1 mean ours is better (faster, or less time per op); best = max for rates, min for µs/op.")
    }

    private func selfExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// One program that speaks the ops-worker protocol.
struct Contender {
    let label: String
    let command: [String]
    let isOurs: Bool

    func run(case name: String, dtype: String, repeats: Int, threads: Int) throws -> OpsCases.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst()) + ["--case", name, "--dtype", dtype, "--repeats", String(repeats), "--threads", String(threads)]
        var environment = ProcessInfo.processInfo.environment
        environment["OMP_WAIT_POLICY"] = "passive"
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("\(label) failed on \(name)/\(dtype) (exit \(process.terminationStatus))")
        }
        let lastLine = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        do {
            return try JSONDecoder().decode(OpsCases.Result.self, from: Data(lastLine.utf8))
        } catch {
            throw ValidationError("\(label) printed no result line for \(name)/\(dtype): '\(lastLine)'")
        }
    }
}

enum Stats {
    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// Finds the repository's scripts (bench peers live in the source tree) and the peer venv.
enum PeerEnvironment {
    /// The package root, from this source file's location (benchmarks run from a checkout).
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    static func script(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// Runs scripts/peer-venv.sh (idempotent: it makes the venv once under the cache dir) and returns its python.
    static func python() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script("scripts/peer-venv.sh")]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let python = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init)
        else { throw ValidationError("could not make the PyTorch peer venv (scripts/peer-venv.sh failed); use --no-peer or --peer-python") }
        return python
    }
}
