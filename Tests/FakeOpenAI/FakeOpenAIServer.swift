import Foundation
import Hummingbird
import NIOCore

/// A chat-completions server on loopback for the API client and CLI tests. The requested `model` picks the
/// behaviour: `ok` answers, `flaky` answers 429 (then 503) before succeeding, `slow` takes 3 s, `broken` sends
/// malformed JSON, `denied` answers 401 with an OpenAI error body; `stream: true` gets server-sent events. Other
/// requests are answered by `reply` when it is set ("You asked: " and the last message otherwise), after `delay`.
public final class FakeOpenAIServer: @unchecked Sendable {
    private let failures = Counter()
    private var task: Task<Void, Error>?
    public private(set) var port = 0
    /// Headers of the last request, to check what the client sends.
    public let lastHeaders = Box<[String: String]>([:])
    /// Every request body, in order of arrival.
    public let bodies = Box<[Data]>([])
    /// The reply text for a request body (its JSON object); nil answers "You asked: …".
    public let reply: (@Sendable ([String: Any]) -> String?)?
    /// Seconds each answered request waits first.
    public let delay: Double

    public init(delay: Double = 0, reply: (@Sendable ([String: Any]) -> String?)? = nil) {
        self.delay = delay
        self.reply = reply
    }

    /// `http://127.0.0.1:PORT/v1`
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    public func start() async throws {
        let router = Router()
        let failures = self.failures
        let lastHeaders = self.lastHeaders
        let bodies = self.bodies
        let (reply, delay) = (self.reply, self.delay)
        router.post("/v1/chat/completions") { request, context -> Response in
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            lastHeaders.value = headers
            let body = try await request.body.collect(upTo: 1 << 20)
            bodies.update { $0.append(Data(buffer: body)) }
            let json = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] ?? [:]
            let model = json["model"] as? String ?? ""
            let question = ((json["messages"] as? [[String: Any]])?.last?["content"] as? String) ?? ""
            switch model {
            case "flaky" where failures.next() < 2:
                let status: HTTPResponse.Status = failures.value == 1 ? .tooManyRequests : .serviceUnavailable
                return Response(status: status, headers: [.retryAfter: "0"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"slow down"}}"#)))
            case "slow":
                try await Task.sleep(nanoseconds: 3_000_000_000)
            case "broken":
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"choices": [ {"mess"#)))
            case "denied":
                return Response(status: .unauthorized,
                                body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"bad key"}}"#)))
            default: break
            }
            if delay > 0 { try await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
            let answer = reply?(json) ?? "You asked: \(question)"
            if json["stream"] as? Bool == true {
                let pieces = ["You ", "asked: ", question]
                return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: .init { writer in
                    try await writer.write(ByteBuffer(string: "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"))
                    for piece in pieces {
                        let chunk = try JSONSerialization.data(withJSONObject: ["choices": [["delta": ["content": piece]]]])
                        // Split each event in two writes so the client must reassemble lines.
                        let event = "data: " + String(decoding: chunk, as: UTF8.self) + "\n\n"
                        let middle = event.index(event.startIndex, offsetBy: event.count / 2)
                        try await writer.write(ByteBuffer(string: String(event[..<middle])))
                        try await writer.write(ByteBuffer(string: String(event[middle...])))
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    try await writer.finish(nil)
                })
            }
            let reply: [String: Any] = [
                "id": "x", "object": "chat.completion",
                "choices": [["index": 0, "message": ["role": "assistant", "content": answer],
                             "finish_reason": "stop"]],
                "usage": ["prompt_tokens": 7, "completion_tokens": 3],
            ]
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(data: try JSONSerialization.data(withJSONObject: reply))))
        }
        let ready = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) })
        task = Task { try await app.run() }
        for await port in ready.stream {
            self.port = port
            break
        }
    }

    public func stop() { task?.cancel() }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var value = 0
    /// The count before this call.
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}

public final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    public init(_ value: T) { stored = value }
    public var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }

    /// Changes the value under the lock (a read and a write of `value` could interleave with another thread's).
    public func update(_ change: (inout T) -> Void) {
        lock.lock()
        change(&stored)
        lock.unlock()
    }
}
