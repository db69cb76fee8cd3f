import ArgumentParser
import Foundation

/// One worker's answer: the JSON line every worker (ours and the peers') prints.
struct WorkerResult: Codable {
    var `case`: String
    var dtype: String
    var metric: String
    var values: [Double]
    var impl: String
    var torch: String
    var threads: Int
    var inner: Int
    /// Peak resident memory of the worker process, for benchmarks that report it.
    var peak_rss_mb: Double? = nil
}

/// One program that speaks the worker protocol: `--case C --dtype D --repeats N --threads T` in, one JSON line out.
struct Contender {
    let label: String
    let command: [String]
    let isOurs: Bool

    /// This executable (workers of our own stack are subprocesses of the driver, like the peers).
    static var selfExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    func run(case name: String, dtype: String, repeats: Int, threads: Int) throws -> WorkerResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst()) + ["--case", name, "--dtype", dtype, "--repeats", String(repeats), "--threads", String(threads)]
        var environment = ProcessInfo.processInfo.environment
        environment["OMP_WAIT_POLICY"] = "passive"
        process.environment = environment
        // Workers' stderr (progress bars, warnings) goes to a file so the table stays readable; it is shown when a
        // worker fails.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-bench-\(getpid())-stderr.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let errors = (try? String(contentsOf: log, encoding: .utf8)).map { String($0.suffix(2000)) } ?? ""
            throw ValidationError("\(label) failed on \(name)/\(dtype) (exit \(process.terminationStatus)):\n\(errors)")
        }
        let lastLine = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        do {
            return try JSONDecoder().decode(WorkerResult.self, from: Data(lastLine.utf8))
        } catch {
            throw ValidationError("\(label) printed no result line for \(name)/\(dtype): '\(lastLine)'")
        }
    }
}

/// Runs every job on every contender, round after round (ours and the peer's alternate, so the noise of these VMs
/// hits both), and collects the figures.
struct InterleavedRun {
    let jobs: [(name: String, dtype: String)]
    let contenders: [Contender]
    let rounds: Int
    let repeats: Int
    let threads: Int

    struct Results {
        let jobs: [(name: String, dtype: String)]
        let contenders: [Contender]
        var samples: [String: [Double]] = [:]  // "case|dtype|label" → values
        var metrics: [String: String] = [:]
        var versions: [String: String] = [:]
        var peakRSS: [String: Double] = [:]  // "case|dtype|label" → max over runs (MB)

        func printTable() {
            print("")
            for (label, version) in versions.sorted(by: { $0.key < $1.key }) { print("  \(label): \(version)") }
            print("")
            print("case                          dtype  contender                         best        median      vs peer (median)")
            let peer = contenders.first { !$0.isOurs }
            for (name, dtype) in jobs {
                let metric = metrics["\(name)|\(dtype)"] ?? "?"
                let lowerIsBetter = metric == "us_per_op"
                let peerMedian = peer.flatMap { samples["\(name)|\(dtype)|\($0.label)"] }.map(Stats.median)
                for runner in contenders {
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
    }

    /// `include` decides which contender runs which case (e.g. a case only our stack has).
    func run(include: (String, Contender) -> Bool = { _, _ in true }) throws -> Results {
        var results = Results(jobs: jobs, contenders: contenders)
        for round in 1...max(1, rounds) {
            for (name, dtype) in jobs {
                for runner in contenders where include(name, runner) {
                    let result = try runner.run(case: name, dtype: dtype, repeats: repeats, threads: threads)
                    results.samples["\(name)|\(dtype)|\(runner.label)", default: []] += result.values
                    results.metrics["\(name)|\(dtype)"] = result.metric
                    results.versions[runner.label] = "\(result.impl) torch \(result.torch)"
                    if let rss = result.peak_rss_mb {
                        results.peakRSS["\(name)|\(dtype)|\(runner.label)"] = max(rss, results.peakRSS["\(name)|\(dtype)|\(runner.label)"] ?? 0)
                    }
                }
            }
            FileHandle.standardError.write(Data("round \(round)/\(rounds) done\n".utf8))
        }
        return results
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

    /// Runs a venv script (idempotent: it makes the venv once under the cache dir) and returns its python.
    static func python(venvScript: String = "scripts/peer-venv.sh") throws -> String {
        guard let python = try lastLine(ofScript: venvScript) else {
            throw ValidationError("could not make the peer venv (\(venvScript) failed); use --no-peer or --peer-python")
        }
        return python
    }

    /// Runs a repository bash script and returns the last line it prints (its result: a path); nil when it fails.
    static func lastLine(ofScript relative: String) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script(relative)]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init)
    }
}
