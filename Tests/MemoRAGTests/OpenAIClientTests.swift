import FakeOpenAI
import Foundation
import Tokenizers
import XCTest

@testable import MemoRAG

final class OpenAIClientTests: XCTestCase {
    private var server: FakeOpenAIServer!

    override func setUp() async throws {
        server = FakeOpenAIServer()
        try await server.start()
    }

    override func tearDown() async throws { server.stop() }

    private func client(_ model: String, timeout: Double = 10, retries: Int = 3, key: String? = "sk-test")
        -> OpenAIChatClient
    {
        OpenAIChatClient(configuration: OpenAIConfiguration(
            baseURL: "http://127.0.0.1:\(server.port)/v1", model: model, apiKey: key, timeout: timeout,
            maxRetries: retries, initialBackoff: 0.01))
    }

    func testCompletionSucceedsAndSendsTheKeyAsBearer() async throws {
        let reply = try await client("ok").complete([.user("Who wrote Alice?")])
        XCTAssertEqual(reply.text, "You asked: Who wrote Alice?")
        XCTAssertEqual(reply.finishReason, "stop")
        XCTAssertEqual(reply.promptTokens, 7)
        XCTAssertEqual(server.lastHeaders.value["authorization"], "Bearer sk-test")
    }

    func testStreamingReassemblesEventsSplitAcrossWrites() async throws {
        var text = ""
        var pieces = 0
        for try await piece in client("ok").stream([.user("streams?")]) {
            text += piece
            pieces += 1
        }
        XCTAssertEqual(text, "You asked: streams?")
        XCTAssertEqual(pieces, 3)
    }

    func testRetriesAfter429And503ThenSucceeds() async throws {
        let reply = try await client("flaky").complete([.user("again")])
        XCTAssertEqual(reply.text, "You asked: again")
    }

    func testGivesUpAfterTheRetryBudgetWithTheServersMessage() async throws {
        do {
            _ = try await client("flaky", retries: 0).complete([.user("x")])
            XCTFail("expected an error")
        } catch let error as MemoRAGError {
            XCTAssertTrue(error.localizedDescription.contains("429"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("slow down"), error.localizedDescription)
        }
    }

    func testTheSeedGoesInTheRequestBodyOnlyWhenGiven() async throws {
        _ = try await client("ok").complete([.user("a")], maxTokens: 9, temperature: 0.7, seed: 1_000_004)
        _ = try await client("ok").complete([.user("b")])
        _ = try await client("ok").complete([.user("c")], seed: UInt64.max)
        let bodies = try server.bodies.value.map { try XCTUnwrap(JSONSerialization.jsonObject(with: $0) as? [String: Any]) }
        XCTAssertEqual(bodies.count, 3)
        XCTAssertEqual(bodies[0]["seed"] as? Int, 1_000_004)
        XCTAssertEqual(bodies[0]["max_tokens"] as? Int, 9)
        XCTAssertEqual(bodies[0]["temperature"] as? Double, 0.7)
        XCTAssertNil(bodies[1]["seed"], "no seed, no field")
        XCTAssertEqual(bodies[2]["seed"] as? Int, Int(Int64.max), "APIs take a signed 64-bit seed")
    }

    /// Nothing listens on port 9 of loopback: each attempt is refused at once, retried with the configured back-off,
    /// and the error names the endpoint, the refusal and the attempts — in well under a second, not the timeout.
    func testARefusedConnectionIsRetriedThenAClearError() async throws {
        let refused = OpenAIChatClient(configuration: OpenAIConfiguration(
            baseURL: "http://127.0.0.1:9/v1", model: "m", timeout: 30, maxRetries: 2, initialBackoff: 0.05))
        let start = Date()
        do {
            _ = try await refused.complete([.user("x")])
            XCTFail("expected an error")
        } catch let error as MemoRAGError {
            let message = error.localizedDescription
            XCTAssertTrue(message.hasPrefix("http://127.0.0.1:9/v1/chat/completions: cannot connect"), message)
            XCTAssertTrue(message.lowercased().contains("refused"), message)
            XCTAssertTrue(message.hasSuffix("after 3 attempts"), message)
        }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.15, "backed off 0.05 s, then 0.1 s")
        XCTAssertLessThan(elapsed, 5)
    }

    func testTimeoutIsAClearError() async throws {
        do {
            _ = try await client("slow", timeout: 0.3, retries: 0).complete([.user("x")])
            XCTFail("expected a timeout")
        } catch let error as MemoRAGError {
            XCTAssertTrue(error.localizedDescription.contains("did not answer within"), error.localizedDescription)
        }
    }

    func testMalformedJSONIsAClearError() async throws {
        do {
            _ = try await client("broken").complete([.user("x")])
            XCTFail("expected an error")
        } catch let error as MemoRAGError {
            XCTAssertTrue(error.localizedDescription.contains("not a chat completion"), error.localizedDescription)
        }
    }

    func testErrorsNeverContainTheKey() async throws {
        do {
            _ = try await client("denied", key: "sk-secret-123").complete([.user("x")])
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue("\(error)".contains("bad key"))
            XCTAssertFalse("\(error)".contains("sk-secret-123"))
            XCTAssertFalse(error.localizedDescription.contains("sk-secret-123"))
        }
    }

    func testAzureURLAndHeader() async throws {
        let config = OpenAIConfiguration(baseURL: "https://res.openai.azure.com/", model: "gpt 4o",
                                         flavor: .azure(apiVersion: "2024-06-01"))
        XCTAssertEqual(config.endpoint,
                       "https://res.openai.azure.com/openai/deployments/gpt%204o/chat/completions?api-version=2024-06-01")
        let env = OpenAIConfiguration.fromEnvironment(baseURL: "x", model: "m", flavor: .azure(apiVersion: "v"),
                                                      environment: ["AZURE_OPENAI_API_KEY": "k"])
        XCTAssertEqual(env.apiKey, "k")
        XCTAssertNil(OpenAIConfiguration.fromEnvironment(baseURL: "x", model: "m", environment: [:]).apiKey)
    }

    func testServerSentEventParsing() {
        var parser = ServerSentEvents()
        XCTAssertEqual(parser.push(Data("data: a\r\n\r\nda".utf8)), ["a"])
        XCTAssertEqual(parser.push(Data("ta: b\n: comment\n\ndata: [DONE]\n\n".utf8)), ["b", "[DONE]"])
    }
}
