import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import XCTest

@testable import Server
import Hummingbird

typealias BasicRequestContextAlias = BasicRequestContext

/// Limits and access: 429 with Retry-After under a burst, generation stopped when the client disconnects,
/// bearer-token auth on and off, and the loopback-only rule without a key.
final class LoadAndAuthTests: XCTestCase {
    func testBurstBeyondTheQueueGets429WithRetryAfter() async throws {
        let harness = try ServerHarness { $0.maxConcurrent = 1; $0.maxQueued = 1; $0.retryAfterSeconds = 2 }
        try await harness.start()
        defer { Task { await harness.stop() } }
        let id = try await harness.memorize()
        let replies = try await withThrowingTaskGroup(of: ServerHarness.Reply.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await harness.json(.POST, "/v1/memories/\(id)/ask",
                                           ["query": "Who rescued the fishermen?", "max_new_tokens": 6])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let ok = replies.filter { $0.status == 200 }, busy = replies.filter { $0.status == 429 }
        XCTAssertEqual(ok.count + busy.count, 8, replies.map { "\($0.status) \($0.text.prefix(100))" }.description)
        XCTAssertGreaterThanOrEqual(ok.count, 2, "one running and one queued succeed")
        XCTAssertGreaterThanOrEqual(busy.count, 1)
        for reply in busy {
            XCTAssertEqual(reply.headers.first(name: "retry-after"), "2")
            XCTAssertTrue(reply.errorMessage?.contains("busy") ?? false, reply.text)
        }
        try await eventually(5, "the gate empties") {
            let queue = try await harness.health()["queue"] as? [String: Any]
            return queue?["running"] as? Int == 0 && queue?["queued"] as? Int == 0
        }
        let queue = try await harness.health()["queue"] as? [String: Any]
        XCTAssertEqual(queue?["refused"] as? Int, busy.count)
    }

    func testAClientThatDisconnectsCancelsItsGeneration() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        let id = try await harness.memorize()
        let body: [String: Any] = [
            "memory": id, "stream": true, "max_tokens": 400, "task": "memorag",
            "messages": [["role": "user", "content": "Write a very long story about the lighthouse, the storm and "
                + "every fisherman, with many details."]],
        ]
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let firstPiece = AsyncStream<Void>.makeStream()
        let reader = Task {
            var request = HTTPClientRequest(url: harness.base + "/v1/chat/completions")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            let response = try await client.execute(request, timeout: .seconds(300))
            var seen = ""
            for try await buffer in response.body {
                seen += String(buffer: buffer)
                if seen.contains("\"content\":\"") && seen.components(separatedBy: "data: ").count > 3 {
                    firstPiece.continuation.yield()
                }
            }
        }
        for await _ in firstPiece.stream { break }
        let started = Date()
        reader.cancel()  // drops the connection mid-stream
        _ = try? await reader.value
        try await client.shutdown()
        try await eventually(20, "the generation is cancelled and its slot freed") {
            let health = try await harness.health()
            let queue = health["queue"] as? [String: Any]
            return health["cancelled_generations"] as? Int == 1 && queue?["running"] as? Int == 0
        }
        // 400 tokens take far longer than this on the test model; stopping early is the point.
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)

        // A plain (non-streamed) ask whose client gives up is cancelled too.
        let impatient = Task {
            try await harness.json(.POST, "/v1/memories/\(id)/ask",
                                   ["query": "Tell the whole story of the lighthouse in great detail.",
                                    "max_new_tokens": 400])
        }
        // Cancelled as soon as it holds the model (a fixed wait would outlast the whole answer on a tiny model).
        try await eventually(20, "the plain ask runs") {
            (try await harness.health()["queue"] as? [String: Any])?["running"] as? Int == 1
        }
        impatient.cancel()
        _ = try? await impatient.value
        try await eventually(30, "the plain ask is cancelled and its slot freed") {
            let health = try await harness.health()
            let queue = health["queue"] as? [String: Any]
            return health["cancelled_generations"] as? Int == 2 && queue?["running"] as? Int == 0
        }

        let after = try await harness.json(.POST, "/v1/memories/\(id)/ask", ["query": "Who kept the lamp?",
                                                                              "max_new_tokens": 4])
        XCTAssertEqual(after.status, 200, after.text)
    }

    func testBearerTokenAuth() async throws {
        let harness = try ServerHarness { $0.apiKey = "s3cret-key" }
        try await harness.start()
        defer { Task { await harness.stop() } }
        let health = try await harness.request(.GET, "/health")
        XCTAssertEqual(health.status, 200, "health stays open")
        let openapi = try await harness.request(.GET, "/openapi.json")
        XCTAssertEqual(openapi.status, 200)
        let missing = try await harness.request(.GET, "/v1/memories")
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.headers.first(name: "www-authenticate"), "Bearer")
        XCTAssertNotNil(missing.errorMessage)
        for wrong in ["Bearer s3cret-kez", "Bearer s3cret-key2", "Bearer ", "Basic s3cret-key", "s3cret-key"] {
            let reply = try await harness.request(.GET, "/v1/memories", headers: [("authorization", wrong)])
            XCTAssertEqual(reply.status, 401, wrong)
        }
        let chat = try await harness.json(.POST, "/v1/chat/completions", ["messages": []])
        XCTAssertEqual(chat.status, 401, "auth comes before validation")
        let auth = [("authorization", "Bearer s3cret-key")]
        let listed = try await harness.request(.GET, "/v1/memories", headers: auth)
        XCTAssertEqual(listed.status, 200)
        let id = try await harness.memorize(headers: auth)
        let asked = try await harness.json(.POST, "/v1/memories/\(id)/ask", ["query": "Who rescued the fishermen?",
                                                                              "max_new_tokens": 4], headers: auth)
        XCTAssertEqual(asked.status, 200, asked.text)
    }

    func testAuthOffServesWithoutAKeyOnLoopbackOnly() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        let plain = try await harness.request(.GET, "/v1/memories")
        XCTAssertEqual(plain.status, 200)
        let withHeader = try await harness.request(.GET, "/v1/memories", headers: [("authorization", "Bearer anything")])
        XCTAssertEqual(withHeader.status, 200)

        var open = ServerConfiguration(dataDir: URL(fileURLWithPath: "/tmp"))
        open.host = "0.0.0.0"
        XCTAssertThrowsError(try open.validate()) { XCTAssertTrue("\($0)".contains("API key") || $0.localizedDescription.contains("API key")) }
        open.allowUnauthenticatedRemote = true
        XCTAssertNoThrow(try open.validate())
        open.allowUnauthenticatedRemote = false
        open.apiKey = "k"
        XCTAssertNoThrow(try open.validate())
    }

    /// Loopback is an address, parsed: 127.0.0.0/8, ::1 and localhost; a name that only starts like one is not.
    func testLoopbackIsParsedAsAnAddress() throws {
        for host in ["127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "0:0:0:0:0:0:0:1", "localhost"] {
            XCTAssertTrue(ServerConfiguration.isLoopback(host), host)
        }
        for host in ["127.example.com", "127.0.0.1.nip.io", "127.", "127.0.0.256", "128.0.0.1", "::2", "::ffff:8.8.8.8",
                     "0.0.0.0", "::", "localhost.example.com", ""] {
            XCTAssertFalse(ServerConfiguration.isLoopback(host), host)
        }
        var named = ServerConfiguration(dataDir: try temporaryDirectory("memorag-loopback"))
        named.host = "127.example.com"
        XCTAssertThrowsError(try named.validate()) { XCTAssertTrue($0.localizedDescription.contains("API key")) }
    }

    func testConstantTimeComparison() {
        typealias Auth = BearerAuthMiddleware<BasicRequestContextAlias>
        XCTAssertTrue(Auth.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        XCTAssertFalse(Auth.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        XCTAssertFalse(Auth.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        XCTAssertFalse(Auth.constantTimeEqual(Array("".utf8), Array("a".utf8)))
        XCTAssertFalse(Auth.constantTimeEqual(Array("a\u{0}".utf8), Array("a".utf8)))
    }
}
