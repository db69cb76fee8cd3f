import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import MemoRAG
import NIOCore
import NIOHTTP1
import Server

/// `memorag bench serve`: starts the server in this process on loopback, memorizes a short text through the API,
/// then drives a fixed number of concurrent clients for a fixed time against `/health` and
/// `/v1/memories/{id}/ask`, reporting throughput, latency percentiles, errors (429s counted apart) and RSS.
struct ServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Load-test memorag serve: N clients for T seconds on /health and /ask; req/s, p50/p99, errors, RSS.")

    @Option(help: "Concurrent clients.") var clients = 16
    @Option(help: "Seconds per phase.") var duration = 60.0
    @Option(help: "Answer tokens per ask (short answers).") var maxNewTokens = 8
    @Option(help: "Clue tokens per recall/rewrite.") var clueTokens = 8
    @Option(help: "Memory mode: beacon, lite or longllm.") var mode: MemoryMode = .longllm
    @Option(help: "Server --max-concurrent.") var maxConcurrent = 1
    @Option(help: "Server queue bound (default: the number of clients, so only an overload gets 429).")
    var maxQueued: Int?
    @Option(help: "Phases: health, ask.") var phases = "health,ask"
    @OptionGroup var options: PipelineOptions

    static let text = """
        The lighthouse on Gull Rock was kept by Marta Vell for thirty-one years. Every evening she climbed the \
        hundred and twelve steps to light the great lamp, and every morning she wrote the weather in a green ledger.
        In the winter of the great storm, a fishing boat called the Silver Herring lost its rudder near the rocks. \
        Marta rowed out alone in the dark and brought the four fishermen back to the island.
        """

    func run() async throws {
        var pipeline = try options.configuration()
        pipeline.mode = mode
        pipeline.clueTokens = clueTokens
        pipeline.answerTokens = maxNewTokens
        // Free answers run to the token count the bench asks for (a copied span may stop short of it).
        options.answeringAsThePeer(&pipeline)
        pipeline.chunkTokens = 64
        let data = URL(fileURLWithPath: NSTemporaryDirectory() + "memorag-bench-serve-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: data) }
        var configuration = ServerConfiguration(dataDir: data)
        configuration.port = 0
        configuration.maxConcurrent = maxConcurrent
        configuration.maxQueued = maxQueued ?? clients
        let server = try MemoragServer(configuration: configuration, models: try MemoRAGModels(configuration: pipeline))
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "memorag.bench.serve")
        logger.logLevel = .critical  // the server is stopped by cancellation, which Hummingbird logs as an error
        let serving = Task { [logger] in
            try await server.run(handleSignals: false, logger: logger) { portContinuation.yield($0) }
        }
        defer { serving.cancel() }
        var portIterator = ports.makeAsyncIterator()
        guard let port = await portIterator.next() else { throw ValidationError("the server did not start") }
        let base = "http://127.0.0.1:\(port)"
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool = .init(idleTimeout: .seconds(30),
                                                   concurrentHTTP1ConnectionsPerHostSoftLimit: clients * 2)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            try await bench(http, base: base, configuration: configuration)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    func bench(_ http: HTTPClient, base: String, configuration: ServerConfiguration) async throws {

        // A memory to ask.
        let created = try await Self.send(http, "\(base)/v1/memories", method: .POST,
                                          json: ["text": Self.text, "name": "lighthouse"])
        guard created.status == 202, let memoryId = created.json?["memory_id"] as? String,
              let jobURL = created.json?["status_url"] as? String else {
            throw ValidationError("memorize was refused: \(created.status) \(created.text)")
        }
        while true {
            let job = try await Self.send(http, base + jobURL, method: .GET)
            let state = job.json?["state"] as? String
            if state == "succeeded" { break }
            if state == "failed" || state == "cancelled" { throw ValidationError("memorize failed: \(job.text)") }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        print("memorag bench serve: \(clients) clients × \(duration) s per phase, max-concurrent \(maxConcurrent), "
            + "queue \(configuration.maxQueued), \(mode.rawValue) memory, \(maxNewTokens) answer tokens, "
            + "\(clueTokens) clue tokens; server and clients in this process (pid \(getpid()))")
        for phase in phases.split(separator: ",").map(String.init) {
            let request: (url: String, method: HTTPMethod, body: [String: Any]?)
            switch phase {
            case "health": request = ("\(base)/health", .GET, nil)
            case "ask": request = ("\(base)/v1/memories/\(memoryId)/ask", .POST,
                                   ["query": "Who rescued the fishermen?", "max_new_tokens": maxNewTokens])
            default: throw ValidationError("unknown phase '\(phase)' (health, ask)")
            }
            // Warm-up, so one-time allocations do not count as growth.
            _ = try await Self.send(http, request.url, method: request.method, json: request.body)
            let rssBefore = Self.residentBytes()
            let clock = ContinuousClock(), start = clock.now
            let result = try await load(http, url: request.url, method: request.method, body: request.body)
            let elapsed = clock.now - start
            let rssAfter = Self.residentBytes()
            // Requests still in flight at the deadline finish and count, so the rate is over the whole phase.
            print(result.summary(phase: phase, duration: Double(elapsed.components.seconds)
                                     + Double(elapsed.components.attoseconds) / 1e18,
                                 rssBefore: rssBefore, rssAfter: rssAfter))
        }
    }

    struct PhaseResult {
        var latencies: [Double] = []
        var refused = 0
        var errors: [String] = []

        func summary(phase: String, duration: Double, rssBefore: Int, rssAfter: Int) -> String {
            let sorted = latencies.sorted()
            func pct(_ p: Double) -> Double { sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))] }
            let growth = Double(rssAfter - rssBefore) / 1_048_576
            var line = String(format: "  %@: %d ok in %.0f s = %.1f req/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms, "
                              + "429s %d, errors %d, RSS %.1f → %.1f MiB (%+.1f)",
                              phase, sorted.count, duration, Double(sorted.count) / duration, pct(0.5) * 1000,
                              pct(0.99) * 1000, (sorted.last ?? .nan) * 1000, refused, errors.count,
                              Double(rssBefore) / 1_048_576, Double(rssAfter) / 1_048_576, growth)
            if let first = errors.first { line += "\n    first error: \(first)" }
            return line
        }
    }

    func load(_ http: HTTPClient, url: String, method: HTTPMethod, body: [String: Any]?) async throws -> PhaseResult {
        let deadline = ContinuousClock.now + .milliseconds(Int(duration * 1000))
        let bodyData = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        return try await withThrowingTaskGroup(of: PhaseResult.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var result = PhaseResult()
                    while ContinuousClock.now < deadline {
                        let clock = ContinuousClock(), start = clock.now
                        do {
                            let response = try await Self.send(http, url, method: method, data: bodyData)
                            let seconds = Double((clock.now - start).components.attoseconds) / 1e18
                                + Double((clock.now - start).components.seconds)
                            switch response.status {
                            case 200: result.latencies.append(seconds)
                            case 429:
                                result.refused += 1
                                let wait = Double(response.headers.first(name: "retry-after") ?? "1") ?? 1
                                try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                            default: result.errors.append("\(response.status): \(response.text.prefix(200))")
                            }
                        } catch {
                            result.errors.append("\(error)")
                        }
                    }
                    return result
                }
            }
            var total = PhaseResult()
            for try await part in group {
                total.latencies += part.latencies
                total.refused += part.refused
                total.errors += part.errors
            }
            return total
        }
    }

    struct Reply {
        var status: UInt
        var headers: HTTPHeaders
        var text: String
        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        }
    }

    static func send(_ http: HTTPClient, _ url: String, method: HTTPMethod, json: [String: Any]? = nil) async throws
        -> Reply
    {
        try await send(http, url, method: method, data: json.map { try JSONSerialization.data(withJSONObject: $0) })
    }

    static func send(_ http: HTTPClient, _ url: String, method: HTTPMethod, data: Data?) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let data {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: data))
        }
        let response = try await http.execute(request, timeout: .seconds(600))
        let body = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: response.status.code, headers: response.headers, text: String(buffer: body))
    }

    /// Resident set size of this process (Linux /proc; 0 elsewhere).
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return kb * 1024
        }
        return 0
    }
}
