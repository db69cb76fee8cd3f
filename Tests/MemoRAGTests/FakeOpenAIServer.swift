import Foundation
import Hummingbird
import NIOCore

/// A chat-completions server on loopback for the client tests. The requested `model` picks the behaviour:
/// `ok` answers, `flaky` answers 429 (then 503) before succeeding, `slow` takes 3 s, `broken` sends malformed JSON,
/// `denied` answers 401 with an OpenAI error body; `stream: true` gets server-sent events.
final class FakeOpenAIServer: @unchecked Sendable {
    private let failures = Counter()
    private var task: Task<Void, Error>?
    private(set) var port = 0
    /// Headers of the last request, to check what the client sends.
    let lastHeaders = Box<[String: String]>([:])

    func start() async throws {
        let router = Router()
        let failures = self.failures
        let lastHeaders = self.lastHeaders
        router.post("/v1/chat/completions") { request, context -> Response in
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            lastHeaders.value = headers
            let body = try await request.body.collect(upTo: 1 << 20)
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
                "choices": [["index": 0, "message": ["role": "assistant", "content": "You asked: \(question)"],
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

    func stop() { task?.cancel() }
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

final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
