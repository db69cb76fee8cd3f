import AsyncHTTPClient
import Foundation
import Logging
import MemoRAG
import NIOCore
import NIOHTTP1
import TestSupport
import TinyModels
import XCTest

@testable import Server

/// A `memorag serve` on loopback (port 0) over tiny random models made at test time (`TinyModels`), with short
/// replies, for the server tests: they check the HTTP API's mechanics on any machine. The models load once per
/// test process.
final class ServerHarness: @unchecked Sendable {
    static let text = """
        The lighthouse on Gull Rock was kept by Marta Vell for thirty-one years. Every evening she climbed the \
        hundred and twelve steps to light the great lamp, and every morning she wrote the weather in a green ledger.

        In the winter of the great storm, a fishing boat called the Silver Herring lost its rudder near the rocks. \
        Marta rowed out alone in the dark and brought the four fishermen back to the island.
        """
    static let bees = """
        Tomas Brandt kept forty hives on the hills above the valley town of Lenz. He painted each hive a different \
        colour so the bees could find their way home, and he named the queens after rivers.
        """

    private static let lock = NSLock()
    nonisolated(unsafe) private static var sharedModels: MemoRAGModels?

    static func models() throws -> MemoRAGModels {
        lock.lock()
        defer { lock.unlock() }
        if let sharedModels { return sharedModels }
        let tiny = try TinyModels.shared()
        var configuration = MemoRAGConfiguration(memoryModel: tiny.memoryModel, retriever: tiny.retriever)
        configuration.mode = .longllm
        configuration.dtype = .float32
        configuration.chunkTokens = 64
        configuration.clueTokens = 12
        configuration.answerTokens = 12
        // Free text: the cancellation tests need answers that run to their token limit, which a copied span (the
        // default style) stops short of at its passage's end.
        configuration.answerStyle = .generated
        configuration.summaryTokens = 16
        let models = try MemoRAGModels(configuration: configuration)
        sharedModels = models
        return models
    }

    let configuration: ServerConfiguration
    let server: MemoragServer
    private var task: Task<Void, Error>?
    private(set) var port = 0
    let http: HTTPClient
    var base: String { "http://127.0.0.1:\(port)" }

    init(dataDir: URL? = nil, _ adjust: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var configuration = ServerConfiguration(dataDir: try dataDir ?? temporaryDirectory("memorag-serve"))
        configuration.port = 0
        configuration.maxBodyBytes = 256 << 10
        configuration.maxQueryTokens = 64
        configuration.maxNewTokens = 512
        adjust(&configuration)
        self.configuration = configuration
        server = try MemoragServer(configuration: configuration, models: try Self.models())
        var client = HTTPClient.Configuration()
        client.connectionPool = .init(idleTimeout: .seconds(5), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: client)
    }

    func start() async throws {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = server
        var logger = Logger(label: "memorag.serve.test")
        logger.logLevel = .critical  // stopping by cancellation logs a CancellationError at error level
        task = Task { [logger] in try await server.run(handleSignals: false, logger: logger) { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        port = await iterator.next() ?? 0
    }

    func stop() async {
        task?.cancel()
        _ = try? await task?.value
        try? await http.shutdown()
    }

    struct Reply {
        var status: UInt
        var headers: HTTPHeaders
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }
    }

    func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, contentType: String = "application/json",
                 headers: [(String, String)] = []) async throws -> Reply {
        try await Client(port: port, http: http).request(method, path, body: body, contentType: contentType,
                                                         headers: headers)
    }

    /// Plain HTTP to a server on loopback.
    struct Client: Sendable {
        let port: Int
        let http: HTTPClient

        init(port: Int, http: HTTPClient = HTTPClient(eventLoopGroupProvider: .singleton)) {
            self.port = port
            self.http = http
        }

        func request(_ method: HTTPMethod, _ path: String, body: Data? = nil,
                     contentType: String = "application/json", headers: [(String, String)] = []) async throws -> Reply {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)" + path)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                request.headers.add(name: "content-type", value: contentType)
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let response = try await http.execute(request, timeout: .seconds(300))
            let data = try await response.body.collect(upTo: 64 << 20)
            return Reply(status: response.status.code, headers: response.headers, body: Data(buffer: data))
        }
    }

    func json(_ method: HTTPMethod, _ path: String, _ object: Any, headers: [(String, String)] = []) async throws
        -> Reply
    {
        try await request(method, path, body: try JSONSerialization.data(withJSONObject: object), headers: headers)
    }

    /// Waits for a job to finish and returns its final status.
    func waitForJob(_ reply: Reply, headers: [(String, String)] = [], file: StaticString = #filePath,
                    line: UInt = #line) async throws -> [String: Any] {
        XCTAssertEqual(reply.status, 202, reply.text, file: file, line: line)
        guard let url = reply.json["status_url"] as? String else {
            XCTFail("no status_url in \(reply.text)", file: file, line: line)
            return [:]
        }
        for _ in 0..<1200 {
            let status = try await request(.GET, url, headers: headers).json
            if let state = status["state"] as? String, !["queued", "running"].contains(state) { return status }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTFail("job did not finish", file: file, line: line)
        return [:]
    }

    /// Memorizes `text` and returns the new memory's id.
    func memorize(_ text: String = ServerHarness.text, name: String = "lighthouse",
                  headers: [(String, String)] = []) async throws -> String {
        let reply = try await json(.POST, "/v1/memories", ["text": text, "name": name], headers: headers)
        let job = try await waitForJob(reply, headers: headers)
        XCTAssertEqual(job["state"] as? String, "succeeded", "\(job)")
        return try XCTUnwrap(reply.json["memory_id"] as? String)
    }

    func health() async throws -> [String: Any] { try await request(.GET, "/health").json }
}

extension XCTestCase {
    /// Polls `condition` until it holds or `seconds` pass.
    func eventually(_ seconds: Double, _ message: String, file: StaticString = #filePath, line: UInt = #line,
                    _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTFail("timed out: \(message)", file: file, line: line)
    }
}
