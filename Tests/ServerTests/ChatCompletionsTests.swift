import AsyncHTTPClient
import Foundation
import MemoRAG
import NIOCore
import NIOHTTP1
import TestSupport
import XCTest

@testable import Server

/// `/v1/chat/completions` through clients that speak OpenAI's wire format: the pipeline's own `OpenAIChatClient`
/// (non-streaming and SSE), raw SSE framing, and the official `openai` Python package when its venv exists.
final class ChatCompletionsTests: XCTestCase {
    func testOpenAIWireClientGetsAnAnswerAndAStream() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        let id = try await harness.memorize()
        // The memory id as the model: clients that cannot add a `memory` field still work unchanged.
        let client = OpenAIChatClient(configuration: .init(baseURL: harness.base + "/v1", model: id, maxRetries: 0))
        let completion = try await client.complete([.user("Who rescued the fishermen?")], maxTokens: 8)
        XCTAssertFalse(completion.text.isEmpty)
        XCTAssertNotNil(completion.finishReason)
        XCTAssertGreaterThan(completion.promptTokens ?? 0, 0)

        var pieces: [String] = []
        for try await piece in client.stream([.user("Who rescued the fishermen?")], maxTokens: 8) { pieces.append(piece) }
        XCTAssertGreaterThan(pieces.count, 1, "the answer arrives in several pieces")
        // Greedy decoding: the stream spells the same answer as the plain completion.
        XCTAssertEqual(pieces.joined().trimmingCharacters(in: .whitespacesAndNewlines), completion.text)
    }

    func testStreamFramingFollowsOpenAI() async throws {
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        let id = try await harness.memorize()
        let reply = try await harness.json(.POST, "/v1/chat/completions", [
            "model": "memorag", "memory": id, "stream": true, "max_tokens": 6,
            "messages": [["role": "system", "content": "Be brief."],
                         ["role": "user", "content": [["type": "text", "text": "Who rescued the fishermen?"]]]],
        ])
        XCTAssertEqual(reply.status, 200, reply.text)
        XCTAssertEqual(reply.headers.first(name: "content-type"), "text/event-stream")
        let events = reply.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertTrue(events.allSatisfy { $0.hasPrefix("data: ") }, reply.text)
        XCTAssertEqual(events.last, "data: [DONE]")
        let chunks = events.dropLast().map {
            (try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8))) as? [String: Any] ?? [:]
        }
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" && $0["model"] as? String == "memorag" })
        let first = (chunks.first?["choices"] as? [[String: Any]])?.first
        XCTAssertEqual((first?["delta"] as? [String: Any])?["role"] as? String, "assistant")
        let last = (chunks.last?["choices"] as? [[String: Any]])?.first
        XCTAssertNotNil(last?["finish_reason"] as? String)
        XCTAssertFalse(((chunks.last?["memorag"] as? [String: Any])?["evidence"] as? [Any] ?? []).isEmpty)
        XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1, "one id for the whole stream")
    }

    /// The official `openai` Python client (scripts/openai-venv.sh makes its venv) against the server.
    func testOfficialOpenAIPythonClient() async throws {
        // InstalledModels.directory is $MEMORAG_CACHE/models; scripts/openai-venv.sh uses the same cache dir.
        let python = InstalledModels.directory.deletingLastPathComponent()
            .appendingPathComponent("venv-openai/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw XCTSkip("no \(python.path): run scripts/openai-venv.sh")
        }
        let harness = try ServerHarness()
        try await harness.start()
        defer { Task { await harness.stop() } }
        let id = try await harness.memorize()
        let script = try XCTUnwrap(Bundle.module.url(forResource: "openai_client", withExtension: "py",
                                                     subdirectory: "Fixtures"))
        let process = Process()
        process.executableURL = python
        process.arguments = [script.path, harness.base + "/v1", id]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, text)
        let result = try XCTUnwrap(text.split(separator: "\n").last.flatMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }, text)
        XCTAssertFalse((result["answer"] as? String ?? "").isEmpty, text)
        XCTAssertGreaterThan(result["stream_pieces"] as? Int ?? 0, 1, text)
        XCTAssertEqual(result["stream_text"] as? String, result["answer"] as? String, text)
        XCTAssertEqual(result["bad_status"] as? Int, 404, text)
    }
}
