import Foundation
import NIOHTTP1
import TestSupport
import XCTest

/// `memorag serve` as a process: SIGTERM while a memorize job runs lets the job finish, the process exits cleanly,
/// and the memory is there when a new server starts over the same data dir.
final class GracefulShutdownTests: XCTestCase {
    func testSIGTERMFinishesTheRunningMemorizeAndLosesNothing() async throws {
        _ = try ServerHarness.models()  // skips without the installed models
        // The CLI is built next to the test bundle (Linux: the bundle URL is the build dir; macOS: its parent).
        let here = Bundle(for: Self.self).bundleURL
        let candidates = [here.appendingPathComponent("memorag"),
                          here.deletingLastPathComponent().appendingPathComponent("memorag")]
        let binary = candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("\(binary.path) is not built (scripts/test.sh builds it)")
        }
        let data = try temporaryDirectoryURL()
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--port", "0", "--data-dir", data.path, "--mode", "longllm", "--dtype", "fp32",
                             "--model", InstalledModels.smolLM2.path, "--retriever", InstalledModels.miniLM.path,
                             "--chunk-tokens", "64", "--clue-tokens", "8", "--answer-tokens", "8"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The port from the "listening on http://127.0.0.1:PORT" line.
        var seen = ""
        var port: Int?
        let handle = output.fileHandleForReading
        while port == nil {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
            if let range = seen.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(seen[range].split(separator: ":").last!)
            }
        }
        let bound = try XCTUnwrap(port, "no listening line in: \(seen)")
        let client = try ProbeClient(port: bound)
        let text = String(repeating: ServerHarness.text + "\n\n", count: 6)
        let created = try await client.post("/v1/memories", ["text": text, "name": "long"])
        XCTAssertEqual(created.status, 202, created.text)
        let id = try XCTUnwrap(created.json["memory_id"] as? String)
        try await eventually(30, "the job is running") {
            let job = try await client.get(created.json["status_url"] as! String)
            return job.json["state"] as? String == "running"
        }
        try await client.close()
        kill(process.processIdentifier, SIGTERM)
        let exited = Date()
        while process.isRunning && Date().timeIntervalSince(exited) < 120 { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertFalse(process.isRunning, "the server did not stop")
        seen += String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, seen)
        XCTAssertTrue(seen.contains("memorag serve: stopped"), seen)

        let names = try FileManager.default.contentsOfDirectory(atPath: data.appendingPathComponent("memories").path)
        XCTAssertEqual(names, [id], "the running job finished; nothing half-written is left")
        let restarted = try ServerHarness(dataDir: data)
        try await restarted.start()
        defer { Task { await restarted.stop() } }
        let memory = try await restarted.request(.GET, "/v1/memories/\(id)")
        XCTAssertEqual(memory.status, 200, memory.text)
        let asked = try await restarted.json(.POST, "/v1/memories/\(id)/ask", ["query": "Who kept the lighthouse?",
                                                                                "max_new_tokens": 4])
        XCTAssertEqual(asked.status, 200, asked.text)
    }
}

/// A small client for a server that is not a `ServerHarness`.
struct ProbeClient {
    let harness: ServerHarness.Client

    init(port: Int) throws { harness = ServerHarness.Client(port: port) }

    func post(_ path: String, _ object: [String: Any]) async throws -> ServerHarness.Reply {
        try await harness.request(.POST, path, body: try JSONSerialization.data(withJSONObject: object))
    }

    func get(_ path: String) async throws -> ServerHarness.Reply { try await harness.request(.GET, path) }
    func close() async throws { try await harness.http.shutdown() }
}
