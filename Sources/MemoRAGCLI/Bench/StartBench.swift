import ArgumentParser
import Foundation
import Models
import Torch

/// `memorag bench start`: how long a process takes to have the memory model ready, as `ask` loads it — cold (the
/// slow path plus writing prepared weights), warm (mapping them), and with prepared weights off — beside
/// transformers' `from_pretrained` of the base GGUF, each in a fresh process, round after round.
struct StartBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Memory-model load in a fresh process: cold, warm (prepared weights), off; vs transformers' from_pretrained (GGUF).")

    @Option(help: "Rounds; each runs every contender once.") var rounds = 3
    @Option(help: "Intra-op threads for every contender.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Memory model (default: the shipped one, as ask and memorize use it).") var model: String?
    @Option(help: "Compute dtype as for ask (default: the CPU's choice, int8 where it has VNNI).") var dtype: String?
    @Option(help: "Python with transformers + gguf for the peer (default: scripts/peer-venv.sh's venv).")
    var peerPython: String?
    @Flag(help: "Skip the transformers peer.") var noPeer = false

    struct Sample {
        var load: [Double] = []
        var ready: [Double] = []
        var rss: [Double] = []
    }

    func run() throws {
        let modelPath = model ?? ModelPaths.defaultMemoryModel.path
        // A private prepared-weights dir: "cold" is cold, and the user's own cache is left alone.
        let prepared = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-bench-start-\(getpid())")
        defer { try? FileManager.default.removeItem(at: prepared) }
        var worker = [Contender.selfExecutable, "bench", "start-worker", "--model", modelPath, "--threads", String(threads)]
        if let dtype { worker += ["--dtype", dtype] }
        var runs: [(label: String, command: [String], environment: [String: String], before: () -> Void)] = [
            ("ours, cold (load, prepare, write)", worker, ["MEMORAG_PREPARED_CACHE": prepared.path],
             { try? FileManager.default.removeItem(at: prepared) }),
            ("ours, warm (prepared weights)", worker, ["MEMORAG_PREPARED_CACHE": prepared.path], {}),
            ("ours, MEMORAG_PREPARED_CACHE=0", worker, ["MEMORAG_PREPARED_CACHE": "0"], {}),
        ]
        if !noPeer {
            let python = try peerPython ?? PeerEnvironment.python()
            runs.append(("transformers from_pretrained", [python, PeerEnvironment.script("Benchmarks/peer/hf_load.py"),
                                                          "--threads", String(threads)], [:], {}))
        }
        print("memory model: \(modelPath); \(threads) threads; libtorch \(LibTorch.version); every figure from a fresh process")
        var samples: [String: Sample] = [:]
        var routes: [String: Set<String>] = [:]
        for round in 1...max(1, rounds) {
            for run in runs {
                run.before()
                let result = try Self.spawn(run.command, environment: run.environment, label: run.label)
                samples[run.label, default: Sample()].load.append(result.load_s)
                samples[run.label, default: Sample()].ready.append(result.ready_s)
                if let rss = result.peak_rss_mb { samples[run.label, default: Sample()].rss.append(rss) }
                if let route = result.route { routes[run.label, default: []].insert(route) }
            }
            FileHandle.standardError.write(Data("round \(round)/\(rounds) done\n".utf8))
        }

        let peer = runs.last.flatMap { noPeer ? nil : samples[$0.label] }
        print("")
        print("contender                           load: best  median   spawn→ready: median   peak RSS   load vs peer (median)")
        for run in runs {
            guard let s = samples[run.label] else { continue }
            var ratio = ""
            if let peer, run.command.first == worker.first {
                ratio = String(format: "%.1f×", Stats.median(peer.load) / Stats.median(s.load))
            }
            let rss = s.rss.isEmpty ? "-" : String(format: "%.0f MB", s.rss.max()!)
            print(run.label.padding(toLength: 34, withPad: " ", startingAt: 0)
                  + String(format: "%8.2f s %6.2f s   %12.2f s        %8@   ", s.load.min()!, Stats.median(s.load),
                           Stats.median(s.ready), rss as NSString) + ratio)
        }
        for (label, seen) in routes.sorted(by: { $0.key < $1.key }) where seen.count > 1 || label.contains("warm") && seen != ["prepared"] {
            print("note: \(label) took the \(seen.sorted().joined(separator: "/")) route")
        }
        print("\nload: the loading call alone (ours: read, fold, int8 packing and fingerprint, or mapping prepared weights; "
            + "transformers: from_pretrained of the GGUF, dequantised to float32); spawn→ready adds process start, "
            + "library loading and imports. Ratios > 1 mean ours is faster.")
    }

    struct Result: Decodable {
        var load_s: Double
        var ready_s: Double
        var peak_rss_mb: Double?
        var route: String?
    }

    /// Runs one contender with the wall-clock time of the spawn passed along, and reads its JSON line.
    static func spawn(_ command: [String], environment extra: [String: String], label: String) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        var environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        environment["OMP_WAIT_POLICY"] = "passive"
        process.environment = environment
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.arguments = Array(command.dropFirst()) + ["--spawned-at", String(Date().timeIntervalSince1970)]
        try process.run()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lastLine = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard process.terminationStatus == 0, let result = try? JSONDecoder().decode(Result.self, from: Data(lastLine.utf8)) else {
            throw ValidationError("\(label) failed (exit \(process.terminationStatus)): "
                + String(decoding: errors, as: UTF8.self).suffix(2000))
        }
        return result
    }
}

/// One `bench start` run through our stack: the memory model loaded as `ask` loads it, in this fresh process.
struct StartWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start-worker", shouldDisplay: false)

    @Option var model: String
    @Option var dtype: String?
    @Option var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Seconds since 1970 when the driver spawned this process.") var spawnedAt: Double?

    func run() throws {
        try LibTorch.setNumThreads(threads)
        let requested = try dtype.map(InferencePrecision.parse)
        let precision = try InferencePrecision.resolve(dtype: requested?.dtype, int8Weights: requested?.int8Weights,
                                                       device: .cpu)
        let settings = PreparedModelSettings(dtype: precision.dtype, int8Weights: precision.int8Weights,
                                             beacon: BeaconSettings.memoryModelDefault, device: .cpu)
        let clock = ContinuousClock(), start = clock.now
        let loaded = try LanguageModel.loadPrepared(URL(fileURLWithPath: model), settings: settings,
                                                    cache: PreparedWeightsCache.fromEnvironment())
        let load = (clock.now - start).seconds
        let ready = spawnedAt.map { Date().timeIntervalSince1970 - $0 } ?? load
        for notice in loaded.notices { FileHandle.standardError.write(Data("memorag: \(notice)\n".utf8)) }
        let object: [String: Any] = ["load_s": load, "ready_s": ready, "route": loaded.route.rawValue,
                                     "peak_rss_mb": peakRSSMegabytes() ?? 0, "fingerprint": loaded.fingerprint,
                                     "phases": loaded.phases.map { "\($0.name) \(String(format: "%.3f", $0.seconds))" }
                                         .joined(separator: ", ")]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self))
    }
}
