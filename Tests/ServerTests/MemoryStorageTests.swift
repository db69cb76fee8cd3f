import Foundation
import NIOHTTP1
import TestSupport
import XCTest

@testable import Server

/// What the server reads from its data dir and when a memory can be used, over real HTTP on loopback.
final class MemoryStorageTests: XCTestCase {
    /// A memory whose memorize job has not finished has no files yet: asking it (chat completion or ask) is a 409
    /// that names the job to wait for, not a 404 that says it does not exist.
    func testAMemoryStillBeingMemorizedIsAConflictNamingItsJob() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        // Hold the one admission slot, so the memorize job stays queued until the test lets it go.
        try await harness.server.gate.acquire(bounded: false)
        let created = try await harness.json(.POST, "/v1/memories", ["text": ServerHarness.text, "name": "lighthouse"])
        XCTAssertEqual(created.status, 202, created.text)
        let id = try XCTUnwrap(created.json["memory_id"] as? String)
        let job = try XCTUnwrap((created.json["job"] as? [String: Any])?["id"] as? String, created.text)

        let chat = try await harness.json(.POST, "/v1/chat/completions", [
            "memory": id, "max_tokens": 4, "messages": [["role": "user", "content": "Who kept the lighthouse?"]],
        ])
        XCTAssertEqual(chat.status, 409, chat.text)
        XCTAssertTrue(chat.errorMessage?.contains(job) == true, chat.text)
        let asked = try await harness.json(.POST, "/v1/memories/\(id)/ask", ["query": "Who kept the lighthouse?"])
        XCTAssertEqual(asked.status, 409, asked.text)
        XCTAssertTrue(asked.errorMessage?.contains(job) == true, asked.text)
        // A memory nobody is making is still a 404.
        let unknown = try await harness.json(.POST, "/v1/chat/completions", [
            "memory": "mem_0123456789abcdef", "messages": [["role": "user", "content": "Who?"]],
        ])
        XCTAssertEqual(unknown.status, 404, unknown.text)

        await harness.server.gate.release()
        let done = try await harness.waitForJob(created)
        XCTAssertEqual(done["state"] as? String, "succeeded", "\(done)")
        let after = try await harness.json(.POST, "/v1/chat/completions", [
            "memory": id, "max_tokens": 4, "messages": [["role": "user", "content": "Who kept the lighthouse?"]],
        ])
        XCTAssertEqual(after.status, 200, after.text)
    }

    /// A memory's manifest is data on disk: one whose memory file leads out of the memory's dir is refused as a
    /// storage error naming the file, and the outside file is never read.
    func testAManifestNamingAFileOutsideTheMemoryIsRefused() async throws {
        let data = try temporaryDirectory("memorag-serve-escape")
        let first = try ServerHarness(dataDir: data)
        try await first.start()
        let id = try await first.memorize()
        await first.stop()

        let memory = data.appendingPathComponent("memories").appendingPathComponent(id)
        let manifestURL = memory.appendingPathComponent("manifest.json")
        var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
        var documents = manifest["documents"] as! [[String: Any]]
        // The memory's own file, reached through "..": inside the data dir, but outside the memory.
        documents[0]["memory_file"] = "../\(id)/memory.safetensors"
        manifest["documents"] = documents
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)

        let harness = try ServerHarness(dataDir: data)
        try await harness.start()
        defer { Task { await harness.stop() } }
        let got = try await harness.request(.GET, "/v1/memories/\(id)")
        XCTAssertEqual(got.status, 500, got.text)
        XCTAssertTrue(got.errorMessage?.contains("is not a file inside") == true, got.text)
        let asked = try await harness.json(.POST, "/v1/memories/\(id)/ask", ["query": "Who kept the lighthouse?"])
        XCTAssertEqual(asked.status, 500, asked.text)
        XCTAssertTrue(asked.errorMessage?.contains("manifest.json") == true, asked.text)
    }

    /// A data dir that is a regular file is named as such, before anything is written.
    func testADataDirThatIsAFileIsRefusedByName() throws {
        let file = try temporaryDirectory("memorag-serve-file").appendingPathComponent("data")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try ServerHarness(dataDir: file)) {
            XCTAssertTrue($0.localizedDescription.contains("\(file.path) is a file, not a directory"),
                          $0.localizedDescription)
        }
        XCTAssertEqual(try Data(contentsOf: file), Data("x".utf8))
        // A data dir whose memories dir cannot be made says which dir and why.
        let data = file.deletingLastPathComponent().appendingPathComponent("data-dir")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: data.appendingPathComponent("memories"))
        XCTAssertThrowsError(try ServerHarness(dataDir: data)) {
            XCTAssertTrue($0.localizedDescription.contains("cannot make the memories dir \(data.path)/memories"),
                          $0.localizedDescription)
        }
    }
}
