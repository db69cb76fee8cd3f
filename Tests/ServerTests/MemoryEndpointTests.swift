import Foundation
import NIOHTTP1
import XCTest

@testable import Server

/// The memory resources and jobs over real HTTP: create (JSON and text/plain), progress, list, get, ask, add a
/// document, delete, and the 404s around them.
final class MemoryEndpointTests: XCTestCase {
    func testMemoryLifecycleOverHTTP() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }

        let created = try await harness.json(.POST, "/v1/memories", ["text": ServerHarness.text, "name": "lighthouse"])
        XCTAssertEqual(created.status, 202, created.text)
        XCTAssertEqual(created.headers.first(name: "location"), created.json["status_url"] as? String)
        let id = try XCTUnwrap(created.json["memory_id"] as? String)
        let job = try await harness.waitForJob(created)
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        XCTAssertEqual(job["memory_id"] as? String, id)
        let progress = try XCTUnwrap(job["progress"] as? [String: Any], "\(job)")
        XCTAssertNotNil(progress["stage"] as? String)
        XCTAssertEqual((job["report"] as? [String: Any])?["documents"] as? [String], ["lighthouse"])

        let list = try await harness.request(.GET, "/v1/memories")
        XCTAssertEqual(list.status, 200)
        let ids = (list.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, [id])
        let memory = try await harness.request(.GET, "/v1/memories/\(id)")
        XCTAssertEqual(memory.status, 200)
        XCTAssertEqual((memory.json["documents"] as? [[String: Any]])?.first?["name"] as? String, "lighthouse")
        XCTAssertGreaterThan(memory.json["chunk_count"] as? Int ?? 0, 0)

        let asked = try await harness.json(.POST, "/v1/memories/\(id)/ask",
                                           ["query": "Who rescued the fishermen?", "max_new_tokens": 8])
        XCTAssertEqual(asked.status, 200, asked.text)
        XCTAssertFalse((asked.json["answer"] as? String ?? "").isEmpty, asked.text)
        XCTAssertFalse((asked.json["evidence"] as? [Any] ?? []).isEmpty)
        XCTAssertTrue((asked.json["clues"] as? [[String: Any]] ?? []).contains { $0["kind"] as? String == "query" })
        XCTAssertGreaterThan((asked.json["timings"] as? [String: Any])?["total"] as? Double ?? 0, 0)
        let qa = try await harness.json(.POST, "/v1/memories/\(id)/ask",
                                        ["query": "Who kept the lighthouse?", "task": "qa", "max_new_tokens": 6])
        XCTAssertEqual(qa.status, 200, qa.text)
        XCTAssertEqual(qa.json["task"] as? String, "qa")

        // A text/plain upload adds a second document; the first one's memory is untouched.
        let added = try await harness.request(.POST, "/v1/memories/\(id)/documents?name=bees",
                                              body: Data(ServerHarness.bees.utf8), contentType: "text/plain; charset=utf-8")
        let addJob = try await harness.waitForJob(added)
        XCTAssertEqual(addJob["state"] as? String, "succeeded", "\(addJob)")
        XCTAssertEqual(addJob["kind"] as? String, "add_document")
        let after = try await harness.request(.GET, "/v1/memories/\(id)")
        XCTAssertEqual((after.json["documents"] as? [[String: Any]])?.compactMap { $0["name"] as? String },
                       ["lighthouse", "bees"])
        let duplicate = try await harness.json(.POST, "/v1/memories/\(id)/documents",
                                               ["name": "bees", "text": ServerHarness.bees])
        XCTAssertEqual(duplicate.status, 409, duplicate.text)

        // A text/plain upload makes a memory too.
        let plain = try await harness.request(.POST, "/v1/memories?name=bees", body: Data(ServerHarness.bees.utf8),
                                              contentType: "text/plain")
        let plainJob = try await harness.waitForJob(plain)
        XCTAssertEqual(plainJob["state"] as? String, "succeeded", "\(plainJob)")
        let second = try XCTUnwrap(plain.json["memory_id"] as? String)

        let deleted = try await harness.request(.DELETE, "/v1/memories/\(id)")
        XCTAssertEqual(deleted.status, 204)
        for (method, path) in [(HTTPMethodAlias.GET, "/v1/memories/\(id)"), (.DELETE, "/v1/memories/\(id)")] {
            let gone = try await harness.request(method, path)
            XCTAssertEqual(gone.status, 404, "\(method) \(path)")
            XCTAssertNotNil(gone.errorMessage, gone.text)
        }
        let askGone = try await harness.json(.POST, "/v1/memories/\(id)/ask", ["query": "anything at all?"])
        XCTAssertEqual(askGone.status, 404, askGone.text)
        let remaining = try await harness.request(.GET, "/v1/memories")
        XCTAssertEqual((remaining.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [second])
        let entries = try FileManager.default.contentsOfDirectory(
            atPath: harness.configuration.dataDir.appendingPathComponent("memories").path)
        XCTAssertEqual(entries, [second], "deletion leaves nothing behind")

        let noJob = try await harness.request(.GET, "/v1/jobs/job_doesnotexist")
        XCTAssertEqual(noJob.status, 404)
        let health = try await harness.health()
        XCTAssertEqual(health["status"] as? String, "ok")
        XCTAssertEqual(health["memories"] as? Int, 1)
        XCTAssertEqual((health["models"] as? [String: Any])?["mode"] as? String, "longllm")
        XCTAssertNotNil((health["queue"] as? [String: Any])?["queued"] as? Int)
    }

    func testMemoriesSurviveARestartAndHalfWrittenOnesStayInvisible() async throws {
        let data = try temporaryDirectoryURL()
        let first = try ServerHarness(dataDir: data)
        try await first.start()
        let id = try await first.memorize()
        let answer = try await first.json(.POST, "/v1/memories/\(id)/ask",
                                          ["query": "Who rescued the fishermen?", "max_new_tokens": 8])
        XCTAssertEqual(answer.status, 200, answer.text)
        await first.stop()

        // What a crash in the middle of a memorize (staging dir) or a delete (renamed dir) leaves behind.
        let memories = data.appendingPathComponent("memories")
        try FileManager.default.createDirectory(at: memories.appendingPathComponent(".mem_x.partial-1234"),
                                                withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: memories.appendingPathComponent(".deleted-mem_y-abcd"),
                                                withIntermediateDirectories: true)

        let second = try ServerHarness(dataDir: data)
        try await second.start()
        defer { Task { await second.stop() } }
        let list = try await second.request(.GET, "/v1/memories")
        XCTAssertEqual((list.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [id])
        let again = try await second.json(.POST, "/v1/memories/\(id)/ask",
                                          ["query": "Who rescued the fishermen?", "max_new_tokens": 8])
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(again.json["answer"] as? String, answer.json["answer"] as? String)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: memories.path), [id])
    }

    func testOpenAPIDocumentDescribesExactlyTheRoutes() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        let reply = try await harness.request(.GET, "/openapi.json")
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.json["openapi"] as? String, "3.0.3")
        let paths = try XCTUnwrap(reply.json["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, operations) in paths {
            for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
        }
        let served = Set(Routes.table.map { "\($0.method.rawValue) \($0.path)" })
        XCTAssertEqual(documented, served)
        // Every route really answers (not the router's 404 for an unknown path).
        for route in Routes.table {
            let path = route.path.replacingOccurrences(of: "{id}", with: "mem_0000000000000000")
            let reply = try await harness.request(.init(rawValue: route.method.rawValue), path,
                                                  body: route.method == .post ? Data("{}".utf8) : nil)
            if reply.status == 404 {
                XCTAssertFalse(reply.errorMessage?.contains("Not Found") ?? true, "\(route.method) \(path) unrouted")
            }
        }
    }
}

typealias HTTPMethodAlias = NIOHTTP1.HTTPMethod

func temporaryDirectoryURL() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-serve-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
