import Foundation
import NIOHTTP1
import Torch
import XCTest

@testable import Server

/// Every kind of bad request gets a 4xx with a JSON error body naming the problem, and a bounded fuzz of bodies
/// leaves the server healthy.
final class RequestValidationTests: XCTestCase {
    func testBadRequestsAreJSONErrors() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        let id = try await harness.memorize()
        let ask = "/v1/memories/\(id)/ask"
        let huge = String(repeating: "lighthouse ", count: 40_000)  // 440 KB > the 256 KiB limit
        let longQuery = String(repeating: "Who kept the lamp burning on the rock? ", count: 10)  // > 64 tokens
        let cases: [(HTTPMethod, String, Data?, String, UInt, String)] = [
            (.POST, ask, Data("{\"query\": ".utf8), "application/json", 400, "malformed JSON"),
            (.POST, ask, Data("[1, 2]".utf8), "application/json", 400, "wrong type"),
            (.POST, ask, Data("{\"query\": 42}".utf8), "application/json", 400, "field 'query' has the wrong type"),
            (.POST, ask, Data("{\"question\": \"hi\"}".utf8), "application/json", 400, "missing field 'query'"),
            (.POST, ask, Data("{\"query\": \"Who?\", \"task\": \"poem\"}".utf8), "application/json", 400, "task"),
            (.POST, ask, Data("{\"query\": \"Who?\", \"max_new_tokens\": 0}".utf8), "application/json", 400,
             "max_new_tokens"),
            (.POST, ask, Data("{\"query\": \"   \"}".utf8), "application/json", 400, "query is empty"),
            (.POST, ask, try JSONSerialization.data(withJSONObject: ["query": longQuery]), "application/json", 400,
             "limit is 64"),
            (.POST, ask, nil, "application/json", 400, "body is empty"),
            (.POST, "/v1/memories/mem_0000000000000000/ask", Data("{\"query\": \"Who?\"}".utf8), "application/json",
             404, "no memory"),
            (.POST, "/v1/memories/../../etc/ask", Data("{\"query\": \"Who?\"}".utf8), "application/json", 404, ""),
            (.POST, "/v1/memories", Data("{\"text\": \"\"}".utf8), "application/json", 400, "empty"),
            (.POST, "/v1/memories", Data("{\"name\": \"x\"}".utf8), "application/json", 400, "missing field 'text'"),
            (.POST, "/v1/memories", Data("{\"text\": 7}".utf8), "application/json", 400, "field 'text'"),
            (.POST, "/v1/memories", Data("{\"documents\": [{\"name\": \"a\"}]}".utf8), "application/json", 400,
             "missing field 'text'"),
            (.POST, "/v1/memories", Data([0x66, 0x6f, 0xff, 0xfe, 0x6f]), "text/plain", 400, "not valid UTF-8"),
            (.POST, "/v1/memories", Data("  \n ".utf8), "text/plain", 400, "empty"),
            (.POST, "/v1/memories", try JSONSerialization.data(withJSONObject: ["text": huge]), "application/json", 413,
             ""),
            (.POST, "/v1/memories/\(id)/documents", Data("{\"name\": \"b\"}".utf8), "application/json", 400,
             "missing field 'text'"),
            (.POST, "/v1/memories/mem_0000000000000000/documents", Data("{\"name\": \"b\", \"text\": \"Bees.\"}".utf8),
             "application/json", 404, "no memory"),
            (.GET, "/v1/nothing-here", nil, "", 404, ""),
            (.POST, "/v1/chat/completions", Data("{\"messages\": []}".utf8), "application/json", 400, "empty"),
            (.POST, "/v1/chat/completions", Data("{\"messages\": [{\"role\": \"user\", \"content\": \"Who?\"}]}".utf8),
             "application/json", 400, "name the memory"),
            (.POST, "/v1/chat/completions", Data("{\"messages\": [{\"role\": \"user\"}], \"memory\": \"\(id)\"}".utf8),
             "application/json", 400, "missing field 'content'"),
            (.POST, "/v1/chat/completions",
             Data("{\"messages\": [{\"role\": \"user\", \"content\": \"Who?\"}], \"memory\": \"mem_nope\"}".utf8),
             "application/json", 404, "no memory"),
        ]
        for (method, path, body, type, status, fragment) in cases {
            let reply = try await harness.request(method, path, body: body, contentType: type)
            XCTAssertEqual(reply.status, status, "\(method) \(path): \(reply.text.prefix(300))")
            XCTAssertEqual(reply.headers.first(name: "content-type"), "application/json", "\(method) \(path)")
            let message = reply.errorMessage
            XCTAssertNotNil(message, "\(method) \(path): no JSON error body in \(reply.text.prefix(300))")
            if !fragment.isEmpty {
                XCTAssertTrue(message?.contains(fragment) ?? false, "\(path): '\(message ?? "")' lacks '\(fragment)'")
            }
        }
        let health = try await harness.health()
        XCTAssertEqual(health["memories"] as? Int, 1, "no bad request created a memory")
    }

    /// Random JSON, truncated valid bodies and huge fields against every POST route: never a 5xx, never a hang,
    /// and the server still answers properly afterwards.
    func testBoundedFuzzLeavesTheServerHealthy() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        let id = try await harness.memorize()
        var rng = SplitMix64(seed: 20_261_125)
        let paths = ["/v1/memories/\(id)/ask", "/v1/chat/completions", "/v1/memories/\(id)/documents",
                     "/v1/memories"]
        let valid: [String] = [
            #"{"query": "Who rescued the fishermen?", "task": "memorag", "max_new_tokens": 4}"#,
            #"{"memory": "\#(id)", "messages": [{"role": "user", "content": "Who kept the lamp?"}], "max_tokens": 4}"#,
            #"{"name": "fuzz", "text": "A short note about tides."}"#,
        ]
        var statuses: [UInt: Int] = [:]
        for i in 0..<120 {
            let path = paths[Int(rng.next() % UInt64(paths.count))]
            let body: Data
            switch i % 4 {
            case 0:
                body = Data(FuzzJSON.value(&rng, depth: 0).utf8)
            case 1:
                let text = valid[Int(rng.next() % UInt64(valid.count))]
                body = Data(text.utf8.prefix(Int(rng.next() % UInt64(text.utf8.count))))
            case 2:
                let field = ["query", "text", "messages", "task", "max_new_tokens", "memory", "name"]
                    .randomElement(using: &rng)!
                let size = [10, 1_000, 100_000, 300_000].randomElement(using: &rng)!
                body = Data("{\"\(field)\": \"\(String(repeating: "x", count: size))\"}".utf8)
            default:
                body = Data((0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            }
            // Any body that happens to be valid would start real work; the fuzz is about the rest.
            if body.count < 200, valid.contains(String(decoding: body, as: UTF8.self)) { continue }
            let reply = try await harness.request(.POST, path, body: body)
            statuses[reply.status, default: 0] += 1
            XCTAssertLessThan(reply.status, 500, "\(path) \(String(decoding: body.prefix(120), as: UTF8.self)): \(reply.text.prefix(200))")
            if reply.status >= 400 { XCTAssertNotNil(reply.errorMessage, reply.text.prefix(200).description) }
        }
        XCTAssertGreaterThan(statuses[400, default: 0], 30, "\(statuses)")
        let health = try await harness.health()
        XCTAssertEqual(health["status"] as? String, "ok")
        let after = try await harness.json(.POST, "/v1/memories/\(id)/ask", ["query": "Who rescued the fishermen?",
                                                                              "max_new_tokens": 4])
        XCTAssertEqual(after.status, 200, after.text)
    }
}

/// Random JSON values (objects, arrays, strings with escapes, numbers, literals), biased toward the API's keys.
enum FuzzJSON {
    static let keys = ["query", "task", "max_new_tokens", "messages", "memory", "stream", "text", "name", "documents",
                       "role", "content", "model", "\u{0}", "ü"]

    static func value(_ rng: inout SplitMix64, depth: Int) -> String {
        switch rng.next() % (depth > 3 ? 4 : 6) {
        case 0: return ["null", "true", "false", "-0", "1e400", "0.5", "-17", "9223372036854775808"]
            .randomElement(using: &rng)!
        case 1: return "\"" + ["", "x", "\\u0000", "\\ud800", "Who?", "qa", "memorag", "\\\"", "mem_"]
            .randomElement(using: &rng)! + "\""
        case 2: return "\(Int64(bitPattern: rng.next()) % 10_000)"
        case 3: return "\"" + String(repeating: "y", count: Int(rng.next() % 64)) + "\""
        case 4:
            let n = Int(rng.next() % 4)
            return "[" + (0..<n).map { _ in value(&rng, depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            let n = Int(rng.next() % 5)
            return "{" + (0..<n).map { _ in
                "\"\(keys.randomElement(using: &rng)!)\": \(value(&rng, depth: depth + 1))"
            }.joined(separator: ",") + "}"
        }
    }
}
