import Foundation
import TestSupport
import Torch
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A scratch dir with token data, and ways to run `memorag train` on the tiny fixtures: as one process, as N ranks
/// through `--nproc-per-node`, or as ranks started by hand with the torchrun variables (to kill one, or to give
/// them different arguments).
struct RankWorkspace {
    let root: URL
    let memorag: URL

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let recipe = repository.appendingPathComponent("recipes/tiny-test.yaml").path
    static let llama = repository.appendingPathComponent("Tests/ModelsTests/Fixtures/decoders/llama").path
    static let beaconLlama = repository.appendingPathComponent("Tests/ModelsTests/Fixtures/beacon/llama").path

    init() throws {
        guard let memorag = builtExecutable("memorag") else { throw XCTSkip("the memorag binary is not built") }
        self.memorag = memorag
        root = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-ddp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        // 500 ids for the plain Llama fixture (vocabulary 512); 600 ids below 96 for the beacon fixture.
        try Data("[[\((0..<500).map(String.init).joined(separator: ","))]]".utf8).write(to: url("tokens.json"))
        try Data("[[\((0..<600).map { String(($0 * 7) % 96) }.joined(separator: ","))]]".utf8)
            .write(to: url("tokens96.json"))
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    func url(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// The tiny-test recipe on the Llama fixture, output in `output`, with `overrides` replacing these defaults.
    func arguments(_ output: String, _ overrides: [String]) -> [String] {
        let defaults = ["model.path=\(Self.llama)", "data.train=\(url("tokens.json").path)",
                        "output_dir=\(url(output).path)", "distributed.timeout_s=30"]
        let given = Set(overrides.map { $0.prefix { $0 != "=" } })
        return [Self.recipe] + defaults.filter { !given.contains($0.prefix { $0 != "=" }) } + overrides
    }

    /// One process (`ranks` nil) or `ranks` ranks through the launcher; fails the test when the run fails.
    @discardableResult
    func train(_ output: String, ranks: Int? = nil, _ overrides: [String], file: StaticString = #filePath,
               line: UInt = #line) throws -> (stdout: String, stderr: String) {
        let launch = ranks.map { ["--nproc-per-node", String($0)] } ?? []
        let result = try runProcess(memorag, ["train"] + launch + arguments(output, overrides),
                                    environment: ["WORLD_SIZE": "1", "RANK": "0"])
        XCTAssertEqual(result.status, 0, "\(output): \(result.stderr.suffix(2000))", file: file, line: line)
        return (result.stdout, result.stderr)
    }

    /// Rank `rank` of `worldSize`, started by hand with the variables torchrun sets; output goes to `log`.
    func startRank(_ rank: Int, of worldSize: Int, port: Int, output: String, _ overrides: [String],
                   log: URL) throws -> Process {
        let process = Process()
        process.executableURL = memorag
        process.arguments = ["train"] + arguments(output, overrides)
        process.environment = ProcessInfo.processInfo.environment.merging([
            "RANK": String(rank), "WORLD_SIZE": String(worldSize), "LOCAL_RANK": String(rank),
            "LOCAL_WORLD_SIZE": String(worldSize), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": String(port),
        ]) { $1 }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// The float tensors of `file` in checkpoint `step` of `output`.
    func tensors(_ output: String, step: Int, file: String = "model.safetensors") throws -> [String: [Float]] {
        let loaded = try Safetensors.load(url(output).appendingPathComponent("step-\(step)/\(file)")).tensors
        return try loaded.mapValues { try $0.toArray(Float.self) }
    }

    /// metrics.jsonl lines of `output` without the timing fields (which no two runs share).
    func metrics(_ output: String) throws -> [[String: Double]] {
        let text = try String(contentsOf: url(output).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return object.filter { !["elapsed", "tokens_per_s", "input_tokens_per_s"].contains($0.key) }
                .compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
    }

    /// A loopback port nobody listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw TorchError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Each tensor of `actual` within `relative` of `expected` in norm (‖a − e‖ ≤ relative · ‖e‖), or bitwise equal.
/// AdamW's second moments are compared as the square roots the update divides by (a squared quantity doubles the
/// relative error of the gradient it squares).
func assertClose(_ actual: [String: [Float]], _ expected: [String: [Float]], relative: Double, bitwise: Bool = false,
                 _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(Set(actual.keys), Set(expected.keys), what, file: file, line: line)
    var worst = (name: "", error: 0.0)
    for (name, expectedValues) in expected {
        guard let actualValues = actual[name], actualValues.count == expectedValues.count else { continue }
        if bitwise {
            if let i = actualValues.indices.first(where: { actualValues[$0].bitPattern != expectedValues[$0].bitPattern }) {
                XCTFail("\(what): \(name)[\(i)] is \(actualValues[i]), expected \(expectedValues[i]) bit for bit",
                        file: file, line: line)
            }
            continue
        }
        let squared = name.hasPrefix("exp_avg_sq")
        let a = squared ? actualValues.map { $0.squareRoot() } : actualValues
        let e = squared ? expectedValues.map { $0.squareRoot() } : expectedValues
        var difference = 0.0, norm = 0.0
        for i in e.indices {
            difference += Double(a[i] - e[i]) * Double(a[i] - e[i])
            norm += Double(e[i]) * Double(e[i])
        }
        let error = difference.squareRoot() / max(norm.squareRoot(), 1e-30)
        if error > worst.error { worst = (name, error) }
    }
    XCTAssertLessThanOrEqual(worst.error, relative, "\(what): \(worst.name) is off by \(worst.error) (relative)",
                             file: file, line: line)
}
