import Foundation
import NIOHTTP1
import TestSupport
import TinyModels
import XCTest

@testable import Server

/// `memorag serve` as a process: SIGTERM while a memorize job runs lets the job finish, the process exits cleanly,
/// and the memory is there when a new server starts over the same data dir.
final class GracefulShutdownTests: XCTestCase {
    func testSIGTERMFinishesTheRunningMemorizeAndLosesNothing() async throws {
        let data = try temporaryDirectoryURL()
        let serve = try ServeProcess(dataDir: data)
        defer { serve.stopIfRunning() }
        let (id, client) = try await startLongMemorize(on: serve)
        try await client.close()
        kill(serve.process.processIdentifier, SIGTERM)
        let output = try await serve.waitForExit(seconds: 120)
        XCTAssertEqual(serve.process.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("memorag serve: stopped"), output)

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

    /// A crash (SIGKILL) in the middle of a memorize: after a restart no memory, whole or half, is visible, the
    /// staging dir is swept, and the server works.
    func testAKillDuringMemorizeLeavesNoHalfMemory() async throws {
        let data = try temporaryDirectoryURL()
        let serve = try ServeProcess(dataDir: data)
        defer { serve.stopIfRunning() }
        // Long enough that the kill lands while the memory is being computed: on the tiny test models one document
        // takes milliseconds, so the job memorizes many, one after the other.
        let (id, client) = try await startLongMemorize(on: serve, documents: 400)
        try await client.close()
        kill(serve.process.processIdentifier, SIGKILL)
        _ = try await serve.waitForExit(seconds: 30)

        let memories = data.appendingPathComponent("memories")
        let left = try FileManager.default.contentsOfDirectory(atPath: memories.path)
        XCTAssertFalse(left.contains(id), "the memory was still being written: \(left)")
        let restarted = try ServerHarness(dataDir: data)
        try await restarted.start()
        defer { Task { await restarted.stop() } }
        let list = try await restarted.request(.GET, "/v1/memories")
        XCTAssertEqual((list.json["data"] as? [Any])?.count, 0, list.text)
        let gone = try await restarted.request(.GET, "/v1/memories/\(id)")
        XCTAssertEqual(gone.status, 404)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: memories.path), [], "leftovers swept")
        let id2 = try await restarted.memorize()
        let after = try await restarted.request(.GET, "/v1/memories/\(id2)")
        XCTAssertEqual(after.status, 200)
    }

    /// Posts a memorize of a longer text (as `documents` documents when more than one) and waits until its job runs.
    private func startLongMemorize(on serve: ServeProcess, repeats: Int = 6, documents: Int = 1) async throws
        -> (String, ProbeClient)
    {
        let client = try ProbeClient(port: serve.port)
        let text = String(repeating: ServerHarness.text + "\n\n", count: repeats)
        let created = try await client.post("/v1/memories", documents == 1 ? ["text": text, "name": "long"]
            : ["documents": (0..<documents).map { ["name": "part-\($0)", "text": text] }])
        XCTAssertEqual(created.status, 202, created.text)
        let id = try XCTUnwrap(created.json["memory_id"] as? String)
        try await eventually(30, "the job is running") {
            let job = try await client.get(created.json["status_url"] as! String)
            return job.json["state"] as? String == "running"
        }
        return (id, client)
    }
}

/// `memorag serve` in a child process on a free port, over the tiny test models.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let output = Pipe()
    private var seen = ""

    init(dataDir: URL) throws {
        let tiny = try TinyModels.shared()
        guard let binary = builtExecutable("memorag") else {
            throw XCTSkip("the memorag binary is not built next to the tests (scripts/test.sh builds it)")
        }
        process.executableURL = binary
        process.arguments = ["serve", "--port", "0", "--data-dir", dataDir.path, "--mode", "longllm",
                             "--dtype", "fp32", "--model", tiny.memoryModel.path,
                             "--retriever", tiny.retriever.path,
                             "--chunk-tokens", "64", "--clue-tokens", "8", "--answer-tokens", "8"]
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // The port from the "listening on http://127.0.0.1:PORT" line.
        var port: Int?
        while port == nil {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
            if let range = seen.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(seen[range].split(separator: ":").last!)
            }
        }
        guard let port else {
            process.terminate()
            throw ServerError.invalidConfiguration("memorag serve did not report a port: \(seen)")
        }
        self.port = port
    }

    /// Waits for the process to end and returns everything it printed.
    func waitForExit(seconds: Double) async throws -> String {
        let start = Date()
        while process.isRunning && Date().timeIntervalSince(start) < seconds {
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTAssertFalse(process.isRunning, "the server did not stop")
        if process.isRunning { return seen }
        seen += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return seen
    }

    func stopIfRunning() {
        if process.isRunning { process.terminate() }
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
