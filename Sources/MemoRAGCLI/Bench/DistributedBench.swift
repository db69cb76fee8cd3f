import ArgumentParser
import Foundation
import Torch

/// One all-reduce benchmark result: rank 0's seconds per size (the protocol of Benchmarks/peer/torch_allreduce.py).
struct AllReduceResult: Codable {
    struct Size: Codable {
        var bytes: Int
        var seconds: [Double]
    }
    var impl: String
    var torch: String
    var world_size: Int
    var results: [Size]
}

/// `memorag bench distributed-worker`: one rank of the all-reduce benchmark over our c10d binding.
struct DistributedWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distributed-worker", abstract: "One rank of `bench distributed` (RANK, WORLD_SIZE, MASTER_* set).",
        shouldDisplay: false)

    @Option(help: "Comma-separated buffer sizes in bytes.") var sizes: String
    @Option(help: "Timed all-reduces per size.") var repeats = 5

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let rank = environment["RANK"].flatMap(Int.init), let world = environment["WORLD_SIZE"].flatMap(Int.init),
              let host = environment["MASTER_ADDR"], let port = environment["MASTER_PORT"].flatMap(Int.init)
        else { throw ValidationError("RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT must be set") }
        try LibTorch.setNumThreads(1)
        let store = try DistributedStore(host: host, port: port, isServer: rank == 0, worldSize: world, timeout: .seconds(120))
        let group = try ProcessGroup(store: store, rank: rank, size: world, timeout: .seconds(120), hostname: "127.0.0.1")
        var results: [AllReduceResult.Size] = []
        for bytes in try DistributedBench.parseSizes(sizes) {
            let buffer = try Tensor.ones([bytes / 4])
            for _ in 0..<2 { try group.allReduceSum([buffer]) }
            var seconds: [Double] = []
            for _ in 0..<repeats {
                try group.barrier()
                let start = ContinuousClock.now
                try group.allReduceSum([buffer])
                seconds.append((ContinuousClock.now - start).seconds)
            }
            results.append(.init(bytes: bytes, seconds: seconds))
        }
        guard rank == 0 else { return }
        let result = AllReduceResult(impl: "memorag-swift", torch: LibTorch.version, world_size: world, results: results)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}

/// `memorag bench distributed`: all-reduce bus bandwidth over Gloo on loopback, ours against torch.distributed,
/// interleaved round by round; optionally a SmolLM2 beacon-pretraining step on 2 ranks × 1 thread against 1 rank × 2
/// threads, with the share of step time spent in (not overlapped) gradient communication.
struct DistributedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distributed",
        abstract: "All-reduce bandwidth over c10d/Gloo vs torch.distributed; data-parallel SmolLM2 training step.")

    @Option(help: "Ranks per contender.") var worldSize = 2
    @Option(help: "Rounds; each runs ours and the peer once.") var rounds = 3
    @Option(help: "Timed all-reduces per size and round.") var repeats = 5
    @Option(help: "Buffer sizes: bytes, or with KB/MB suffix; 66.4MB is SmolLM2's 16.6 M beacon parameters in fp32.")
    var sizes = "1MB,4MB,16MB,64MB,66.4MB,256MB"
    @Option(help: "Python with torch for the peer (default: scripts/peer-venv.sh's venv).") var peerPython: String?
    @Flag(help: "Skip the torch.distributed peer.") var noPeer = false
    @Flag(help: "Also time SmolLM2 beacon pretraining: 2 ranks × 1 thread vs 1 rank × 2 threads.") var train = false
    @Option(help: "Training steps per configuration (the first is not timed).") var trainSteps = 3
    @Option(help: "Tokens per training sample.") var trainLength = 2048

    func run() throws {
        let byteSizes = try Self.parseSizes(sizes)
        let python = noPeer ? nil : try peerPython ?? PeerEnvironment.python()
        print("all-reduce (sum, fp32) over Gloo on loopback, \(worldSize) ranks, 1 intra-op thread each; "
              + "\(rounds) rounds × \(repeats) repeats, ours and torch.distributed interleaved")
        var ours: [Int: [Double]] = [:], peer: [Int: [Double]] = [:]
        var peerVersion = ""
        for round in 1...rounds {
            let sizeList = byteSizes.map(String.init).joined(separator: ",")
            let mine = try runRanks([Contender.selfExecutable, "bench", "distributed-worker", "--sizes", sizeList,
                                     "--repeats", String(repeats)])
            for size in mine.results { ours[size.bytes, default: []] += size.seconds }
            if let python {
                let theirs = try runRanks([python, PeerEnvironment.script("Benchmarks/peer/torch_allreduce.py"),
                                           "--sizes", sizeList, "--repeats", String(repeats)])
                peerVersion = theirs.torch
                for size in theirs.results { peer[size.bytes, default: []] += size.seconds }
            }
            FileHandle.standardError.write(Data("round \(round)/\(rounds) done\n".utf8))
        }
        print("peer: torch.distributed \(peerVersion.isEmpty ? "(skipped)" : peerVersion); bus bandwidth = bytes × 2(n−1)/n / median time")
        func column(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        print(column("size", 10) + column("ours GB/s", 12) + column("torch GB/s", 12) + column("ratio", 8))
        let factor = 2.0 * Double(worldSize - 1) / Double(worldSize)
        for bytes in byteSizes {
            let mine = Double(bytes) * factor / median(ours[bytes] ?? []) / 1e9
            let theirs = peer[bytes].map { Double(bytes) * factor / median($0) / 1e9 }
            print(column(String(format: "%.1fMB", Double(bytes) / 1e6), 10) + column(String(format: "%.2f", mine), 12)
                  + column(theirs.map { String(format: "%.2f", $0) } ?? "–", 12)
                  + column(theirs.map { String(format: "%.2f", mine / $0) } ?? "–", 8))
        }
        if train { try trainingStep() }
    }

    /// Runs `command` as `worldSize` ranks on a free loopback port; returns rank 0's result line.
    private func runRanks(_ command: [String]) throws -> AllReduceResult {
        let port = try RankLauncher.freeLoopbackPort()
        var processes: [(Process, Pipe)] = []
        for rank in 0..<worldSize {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
            process.environment = ProcessInfo.processInfo.environment.merging([
                "RANK": String(rank), "WORLD_SIZE": String(worldSize), "LOCAL_RANK": String(rank),
                "LOCAL_WORLD_SIZE": String(worldSize), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": String(port),
                "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive",
            ]) { $1 }
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            processes.append((process, pipe))
        }
        let output = processes[0].1.fileHandleForReading.readDataToEndOfFile()
        for (process, _) in processes { process.waitUntilExit() }
        guard processes.allSatisfy({ $0.0.terminationStatus == 0 }) else {
            throw ValidationError("\(command[0]) failed as \(worldSize) ranks")
        }
        let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return try JSONDecoder().decode(AllReduceResult.self, from: Data(line.utf8))
    }

    /// SmolLM2 beacon pretraining (beacon parameters train, as in recipes/beacon-pretrain.yaml) on the same global
    /// batch of 2 samples: 2 ranks × batch 1 × 1 thread against 1 rank × batch 2 × 2 threads.
    private func trainingStep() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-bench-ddp-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        // Token ids spread over the vocabulary (throughput does not depend on what they say).
        let ids = (0..<(trainLength * 64)).map { String(($0 * 7919 + 13) % 49152) }
        try Data("[[\(ids.joined(separator: ","))]]".utf8).write(to: work.appendingPathComponent("tokens.json"))
        let common = [PeerEnvironment.script("recipes/beacon-pretrain.yaml"),
                      "data.train=\(work.appendingPathComponent("tokens.json").path)", "data.min_length=\(trainLength)",
                      "data.max_length=\(trainLength)", "grad_accumulation=1", "max_steps=\(trainSteps)",
                      "checkpoint.every=100000", "log.every=1", "schedule.warmup_steps=0"]
        print("\nSmolLM2-135M beacon pretraining, global batch 2 × \(trainLength) tokens, \(trainSteps) steps (the first untimed)")
        let configurations: [(String, [String])] = [
            ("1 rank × 2 threads", ["train"] + common + ["batch_size=2", "threads=2", "output_dir=\(work.path)/one"]),
            ("2 ranks × 1 thread", ["train", "--nproc-per-node", "2"] + common
                + ["batch_size=1", "threads=1", "output_dir=\(work.path)/two"]),
        ]
        for (label, arguments) in configurations {
            let result = try runProcess(Contender.selfExecutable, arguments)
            let lines = result.split(separator: "\n")
            let rates = lines.compactMap { line -> Double? in
                guard line.contains("step "), line.contains(" tok/s"), !line.contains("step 1/"),
                      let range = line.range(of: #"[0-9]+ tok/s"#, options: .regularExpression) else { return nil }
                return Double(line[range].dropLast(6))
            }
            let communication = lines.first { $0.contains("communication:") }.map { String($0) } ?? ""
            print("  " + label + String(format: ": %.0f input tokens/s (median of steps 2…%d)", median(rates), trainSteps)
                  + (communication.isEmpty ? "" : "; " + communication.replacingOccurrences(of: "[rank 0] ", with: "")))
        }
    }

    private func runProcess(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("memorag \(arguments.prefix(3)) failed") }
        return String(decoding: output, as: UTF8.self)
    }

    private func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func parseSizes(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map { item in
            let s = item.trimmingCharacters(in: .whitespaces).uppercased()
            let (number, scale): (Substring, Double) = s.hasSuffix("MB") ? (s.dropLast(2), 1e6)
                : s.hasSuffix("KB") ? (s.dropLast(2), 1e3) : (Substring(s), 1)
            guard let value = Double(number), value > 0 else { throw ValidationError("bad size '\(item)'") }
            return Int(value * scale) / 4 * 4
        }
    }
}
