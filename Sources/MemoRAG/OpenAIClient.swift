import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Tokenizers

/// Where and how to reach an OpenAI-compatible chat-completions endpoint (OpenAI, DeepSeek, Azure OpenAI, vLLM,
/// llama.cpp's server, our own `memorag serve`, …).
public struct OpenAIConfiguration: Sendable, Equatable {
    public enum Flavor: Sendable, Equatable {
        /// `POST {baseURL}/chat/completions` with `Authorization: Bearer KEY`.
        case openAI
        /// `POST {baseURL}/openai/deployments/{model}/chat/completions?api-version=V` with an `api-key` header.
        case azure(apiVersion: String)
    }

    /// E.g. `https://api.openai.com/v1`, `https://api.deepseek.com/v1`, `http://127.0.0.1:8080/v1`; for Azure the
    /// resource URL `https://NAME.openai.azure.com`.
    public var baseURL: String
    /// The model name (Azure: the deployment name).
    public var model: String
    public var flavor: Flavor
    /// The API key, normally read from the environment (see `fromEnvironment`); nil sends no credential (local servers).
    public var apiKey: String?
    /// Seconds for one attempt, connection to last byte.
    public var timeout: Double
    /// Further attempts after a 429, a 5xx, a refused or a dropped connection.
    public var maxRetries: Int
    /// First back-off in seconds; doubles each retry unless the server sends `Retry-After`.
    public var initialBackoff: Double

    public init(baseURL: String, model: String, flavor: Flavor = .openAI, apiKey: String? = nil, timeout: Double = 120,
                maxRetries: Int = 3, initialBackoff: Double = 1) {
        self.baseURL = baseURL
        self.model = model
        self.flavor = flavor
        self.apiKey = apiKey
        self.timeout = timeout
        self.maxRetries = maxRetries
        self.initialBackoff = initialBackoff
    }

    /// The key comes from `keyVariable` (default `OPENAI_API_KEY`, or `AZURE_OPENAI_API_KEY` for Azure); it is never
    /// printed or logged.
    public static func fromEnvironment(baseURL: String, model: String, flavor: Flavor = .openAI,
                                       keyVariable: String? = nil,
                                       environment: [String: String] = ProcessInfo.processInfo.environment)
        -> OpenAIConfiguration
    {
        let variable = keyVariable ?? (flavor == .openAI ? "OPENAI_API_KEY" : "AZURE_OPENAI_API_KEY")
        let key = environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        return OpenAIConfiguration(baseURL: baseURL, model: model, flavor: flavor, apiKey: key)
    }

    var endpoint: String {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        switch flavor {
        case .openAI: return base + "/chat/completions"
        case .azure(let version):
            let deployment = model.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? model
            return "\(base)/openai/deployments/\(deployment)/chat/completions?api-version=\(version)"
        }
    }
}

/// One reply of the chat-completions API.
public struct ChatCompletion: Sendable, Equatable {
    public var text: String
    public var finishReason: String?
    public var promptTokens: Int?
    public var completionTokens: Int?
}

/// A small client for `POST /chat/completions`: retries with back-off on 429, 5xx and refused or dropped
/// connections, a timeout per attempt, and errors that say what the server answered (never the key).
public struct OpenAIChatClient: Sendable {
    public let configuration: OpenAIConfiguration
    private let http: HTTPClient

    /// The default `httpClient` fails a refused connection at once, so the back-off and attempts of `configuration`
    /// govern it (HTTPClient.shared would retry it by itself until the attempt's timeout, then fail with no word of
    /// the retries).
    public init(configuration: OpenAIConfiguration, httpClient: HTTPClient = OpenAIChatClient.sharedHTTPClient) {
        self.configuration = configuration
        self.http = httpClient
    }

    /// Like `HTTPClient.shared` but without its own retries of connection establishment; never shut down.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// The whole reply at once; `seed` goes in the request (servers that honour it sample reproducibly).
    public func complete(_ messages: [ChatMessage], maxTokens: Int = 256, temperature: Double = 0,
                         seed: UInt64? = nil) async throws -> ChatCompletion
    {
        let response = try await send(body(messages, maxTokens: maxTokens, temperature: temperature, seed: seed,
                                           stream: false))
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw describe(error)
        }
        return try Self.parseCompletion(Data(bytes.readableBytesView), from: configuration.endpoint)
    }

    /// The reply in pieces as the server streams them (server-sent events, `stream: true`).
    public func stream(_ messages: [ChatMessage], maxTokens: Int = 256, temperature: Double = 0)
        -> AsyncThrowingStream<String, Error>
    {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await send(body(messages, maxTokens: maxTokens, temperature: temperature,
                                                       seed: nil, stream: true))
                    var parser = ServerSentEvents()
                    for try await buffer in response.body {
                        for event in parser.push(Data(buffer.readableBytesView)) {
                            if event == "[DONE]" { continuation.finish(); return }
                            if let piece = try Self.parseDelta(Data(event.utf8), from: configuration.endpoint) {
                                continuation.yield(piece)
                            }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: describe(error))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func body(_ messages: [ChatMessage], maxTokens: Int, temperature: Double, seed: UInt64?, stream: Bool)
        throws -> Data
    {
        struct Request: Encodable {
            var model: String
            var messages: [ChatMessage]
            var max_tokens: Int
            var temperature: Double
            /// Omitted when nil. APIs take a signed 64-bit seed: the top bit is dropped.
            var seed: Int64?
            var stream: Bool
        }
        return try JSONEncoder().encode(Request(
            model: configuration.model, messages: messages, max_tokens: maxTokens, temperature: temperature,
            seed: seed.map { Int64(bitPattern: $0 & UInt64(Int64.max)) }, stream: stream))
    }

    /// One POST, retried on 429/5xx/connection failures; returns a 2xx response with its body unread.
    private func send(_ body: Data) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            var request = HTTPClientRequest(url: configuration.endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            if let key = configuration.apiKey {
                switch configuration.flavor {
                case .openAI: request.headers.add(name: "Authorization", value: "Bearer \(key)")
                case .azure: request.headers.add(name: "api-key", value: key)
                }
            }
            request.body = .bytes(ByteBuffer(bytes: body))
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .milliseconds(Int64(configuration.timeout * 1000)))
            } catch let error as HTTPClientError where attempt < configuration.maxRetries && Self.isTransient(error) {
                attempt += 1
                try await Task.sleep(nanoseconds: backoff(attempt: attempt, retryAfter: nil))
                continue
            } catch where Self.isConnectionFailure(error) {
                guard attempt < configuration.maxRetries else {
                    throw MemoRAGError.generator("\(configuration.endpoint): cannot connect (\(Self.connectionProblem(error)))"
                        + " after \(attempt + 1) attempt\(attempt == 0 ? "" : "s")")
                }
                attempt += 1
                try await Task.sleep(nanoseconds: backoff(attempt: attempt, retryAfter: nil))
                continue
            } catch {
                throw describe(error)
            }
            let status = response.status.code
            if (200..<300).contains(status) { return response }
            let text = (try? await response.body.collect(upTo: 1 << 20)).map { String(buffer: $0) } ?? ""
            if (status == 429 || status >= 500) && attempt < configuration.maxRetries {
                attempt += 1
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Double.init)
                try await Task.sleep(nanoseconds: backoff(attempt: attempt, retryAfter: retryAfter))
                continue
            }
            throw MemoRAGError.generator(
                "\(configuration.endpoint) answered \(status)\(attempt > 0 ? " after \(attempt + 1) attempts" : ""): "
                    + Self.serverMessage(text))
        }
    }

    private func backoff(attempt: Int, retryAfter: Double?) -> UInt64 {
        let seconds = retryAfter ?? configuration.initialBackoff * pow(2, Double(attempt - 1))
        return UInt64(max(0, min(seconds, 60)) * 1e9)
    }

    private static func isTransient(_ error: HTTPClientError) -> Bool {
        error == .remoteConnectionClosed || error == .connectTimeout || error == .readTimeout
    }

    /// A connection that could not be made (refused, reset, unreachable, timed out connecting).
    static func isConnectionFailure(_ error: Error) -> Bool {
        if error is NIOConnectionError || error is IOError { return true }
        if case .connectTimeout? = error as? ChannelError { return true }
        return false
    }

    /// The system's words for a failed connection ("Connection refused").
    static func connectionProblem(_ error: Error) -> String {
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return connectionProblem(first.error) }
            if let dns = error.dnsAAAAError ?? error.dnsAError { return "name lookup failed: \(dns)" }
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }

    private func describe(_ error: Error) -> Error {
        if error is MemoRAGError || error is CancellationError { return error }
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout {
            return MemoRAGError.generator("\(configuration.endpoint) did not answer within \(configuration.timeout) s")
        }
        return MemoRAGError.generator("\(configuration.endpoint): \(error)")
    }

    /// The `error.message` of an OpenAI-style error body, else the body's start.
    static func serverMessage(_ text: String) -> String {
        if let data = text.data(using: .utf8),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let error = object["error"] as? [String: Any], let message = error["message"] as? String {
            return message
        }
        return text.isEmpty ? "(empty body)" : String(text.prefix(300))
    }

    static func parseCompletion(_ data: Data, from endpoint: String) throws -> ChatCompletion {
        struct Response: Decodable {
            struct Choice: Decodable {
                struct Message: Decodable { var content: String? }
                var message: Message
                var finish_reason: String?
            }
            struct Usage: Decodable { var prompt_tokens: Int?; var completion_tokens: Int? }
            var choices: [Choice]
            var usage: Usage?
        }
        let response: Response
        do { response = try JSONDecoder().decode(Response.self, from: data) } catch {
            throw MemoRAGError.generator("\(endpoint) sent a reply that is not a chat completion: "
                + String(decoding: data.prefix(200), as: UTF8.self))
        }
        guard let choice = response.choices.first else {
            throw MemoRAGError.generator("\(endpoint) sent a chat completion without choices")
        }
        return ChatCompletion(text: choice.message.content ?? "", finishReason: choice.finish_reason,
                              promptTokens: response.usage?.prompt_tokens,
                              completionTokens: response.usage?.completion_tokens)
    }

    /// The text of one streamed `chat.completion.chunk` (nil for chunks without content, e.g. the role header).
    static func parseDelta(_ data: Data, from endpoint: String) throws -> String? {
        struct Chunk: Decodable {
            struct Choice: Decodable {
                struct Delta: Decodable { var content: String? }
                var delta: Delta?
            }
            var choices: [Choice]
        }
        do {
            return try JSONDecoder().decode(Chunk.self, from: data).choices.first?.delta?.content
        } catch {
            throw MemoRAGError.generator("\(endpoint) streamed a chunk that is not JSON: "
                + String(decoding: data.prefix(200), as: UTF8.self))
        }
    }
}

/// Splits a `text/event-stream` body into the `data:` payloads of its events, across arbitrary chunk boundaries.
struct ServerSentEvents {
    private var pending = Data()
    private var data: [String] = []

    mutating func push(_ bytes: Data) -> [String] {
        pending.append(bytes)
        var events: [String] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
            pending.removeSubrange(pending.startIndex...newline)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty { events.append(data.joined(separator: "\n")) }
                data.removeAll()
            } else if line.hasPrefix("data:") {
                let payload = line.dropFirst(5)
                data.append(String(payload.hasPrefix(" ") ? payload.dropFirst() : payload))
            }
        }
        return events
    }
}
