import Foundation
import Hummingbird
import MemoRAG

/// `POST /v1/chat/completions`: the last user message is asked of the memory the request names; with
/// `stream: true` the answer goes out as server-sent `chat.completion.chunk` events while the model writes it.
struct ChatCompletions {
    let routes: Routes
    var server: MemoragServer { routes.server }

    /// The whole exchange runs while the client is watched, so a client that leaves while queued or during a
    /// non-streamed answer cancels it; a streamed answer notices through its next failed write.
    func handle(_ request: Request) async throws -> Response {
        try await routes.watchingClient(request) { data in try await respond(to: data) }
    }

    private func respond(to data: Data) async throws -> Response {
        let body = try RequestDecoding.json(ChatCompletionRequest.self, from: data)
        guard !body.messages.isEmpty else { throw APIError.invalid("'messages' is empty") }
        guard let query = body.query else { throw APIError.invalid("'messages' has no user message") }
        guard let memoryId = body.memoryId else {
            throw APIError.invalid("name the memory to answer from: add \"memory\": \"mem_…\" to the request "
                + "(OpenAI clients: extra_body), or use the memory id as the model")
        }
        let task = body.task ?? .memorag
        let maxTokens = body.maxCompletionTokens ?? body.maxTokens
        try routes.limits.check(query: query, task: task, maxNewTokens: maxTokens)
        let rag = try await routes.pipeline(memoryId)
        let model = body.model ?? routes.configuration.modelName
        let id = "chatcmpl-" + ResourceID.random()
        let created = Int(Date().timeIntervalSince1970)
        let limit = maxTokens ?? server.models.configuration.replyTokens(for: task)
        let models = server.models

        @Sendable func usage(_ result: AskResult) -> Usage {
            Usage(promptTokens: models.tokenCount(query), completionTokens: models.tokenCount(result.answer))
        }
        @Sendable func details(_ result: AskResult) -> Details {
            Details(memory: memoryId, task: task, clues: result.clues, evidence: result.evidence, timings: result.timings)
        }
        @Sendable func finishReason(_ result: AskResult) -> String {
            models.tokenCount(result.answer) >= limit ? "length" : "stop"
        }

        if body.stream != true {
            let lease = try await routes.acquireSlot()
            defer { lease.release() }
            let result = try await routes.generate { try await rag.ask(query, task: task, maxNewTokens: maxTokens) }
            return try Response.json(ChatCompletionResponse(
                id: id, created: created, model: model,
                choices: [.init(message: .init(content: result.answer), finishReason: finishReason(result))],
                usage: usage(result), memorag: details(result)))
        }

        // The slot is taken before the 200 goes out, so an overload still gets its 429; the stream holds it until
        // the last event.
        let lease = try await routes.acquireSlot()
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: .init { writer in
            defer { lease.release() }
            func chunk(_ delta: ChatCompletionChunk.Choice.Delta, finish: String? = nil, result: AskResult? = nil)
                -> ChatCompletionChunk
            {
                ChatCompletionChunk(id: id, created: created, model: model,
                                    choices: [.init(delta: delta, finishReason: finish)],
                                    usage: result.map(usage), memorag: result.map(details))
            }
            func send(_ event: ByteBufferText) async throws {
                try await writer.write(ByteBuffer(string: event.text))
            }
            do {
                let (pieces, continuation) = AsyncStream<String>.makeStream()
                let generation = Task {
                    defer { continuation.finish() }
                    return try await routes.generate {
                        try await rag.ask(query, task: task, maxNewTokens: maxTokens,
                                          onText: { continuation.yield($0) })
                    }
                }
                do {
                    try await withTaskCancellationHandler {
                        try await send(ServerSentEvent.data(chunk(.init(role: "assistant", content: ""))))
                        for await piece in pieces where !piece.isEmpty {
                            try await send(ServerSentEvent.data(chunk(.init(content: piece))))
                        }
                        let result = try await generation.value
                        try await send(ServerSentEvent.data(chunk(.init(), finish: finishReason(result),
                                                                  result: result)))
                        try await send(ServerSentEvent.done)
                    } onCancel: {
                        generation.cancel()
                    }
                } catch {
                    generation.cancel()  // the client is gone or the write failed: stop the model
                    _ = try? await generation.value
                    throw error
                }
            } catch let error where !(error is CancellationError) {
                // Headers are out, so the failure travels as a last event in OpenAI's error shape.
                let apiError = APIError.from(error)
                let payload = APIError.Body(error: .init(message: apiError.message, type: "server_error",
                                                         code: apiError.code))
                try? await send(ServerSentEvent.data(payload))
            }
            try await writer.finish(nil)
        })
    }
}
