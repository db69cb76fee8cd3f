import Foundation
import Hummingbird
import MemoRAG

/// The HTTP API. `table` lists every route; `/openapi.json` describes the same set (a test holds them equal).
struct Routes: Sendable {
    static let table: [(method: HTTPRequest.Method, path: String)] = [
        (.get, "/health"),
        (.get, "/openapi.json"),
        (.get, "/v1/memories"),
        (.post, "/v1/memories"),
        (.get, "/v1/memories/{id}"),
        (.delete, "/v1/memories/{id}"),
        (.post, "/v1/memories/{id}/documents"),
        (.post, "/v1/memories/{id}/ask"),
        (.get, "/v1/jobs/{id}"),
        (.post, "/v1/chat/completions"),
    ]

    let server: MemoragServer
    var configuration: ServerConfiguration { server.configuration }
    var limits: QueryLimits {
        let models = server.models
        return QueryLimits(configuration: server.configuration, tokenCount: { models.tokenCount($0) })
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in try await health() }
        router.get("/openapi.json") { _, _ in try OpenAPIDocument.response() }
        router.get("/v1/memories") { _, _ in try Response.json(MemoryList(data: await server.registry.list())) }
        router.post("/v1/memories") { request, _ in try await createMemory(request) }
        router.get("/v1/memories/{id}") { _, context in
            try Response.json(try await server.registry.info(context.parameters.require("id")))
        }
        router.delete("/v1/memories/{id}") { _, context in try await deleteMemory(context.parameters.require("id")) }
        router.post("/v1/memories/{id}/documents") { request, context in
            try await addDocument(request, id: context.parameters.require("id"))
        }
        router.post("/v1/memories/{id}/ask") { request, context in
            try await ask(request, id: context.parameters.require("id"))
        }
        router.get("/v1/jobs/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard let status = await server.jobs.status(id) else { throw APIError.notFound("no job '\(id)'") }
            return try Response.json(status)
        }
        router.post("/v1/chat/completions") { request, _ in
            try await ChatCompletions(routes: self).handle(request)
        }
    }

    // MARK: handlers

    func health() async throws -> Response {
        let models = server.models
        let memory = models.memoryModelIdentity, retriever = models.retrieverModelIdentity
        return try Response.json(HealthResponse(
            models: .init(memoryModel: memory.source, memoryModelFingerprint: memory.fingerprint,
                          retriever: retriever.source, retrieverFingerprint: retriever.fingerprint,
                          mode: models.configuration.mode.rawValue),
            memories: await server.registry.count(),
            queue: .init(running: await server.gate.running, queued: await server.gate.queued,
                         maxConcurrent: configuration.maxConcurrent, maxQueued: configuration.maxQueued,
                         refused: await server.gate.refused),
            activeJobs: await server.jobs.active,
            cancelledGenerations: await server.stats.cancelledGenerations))
    }

    /// JSON `{text, name}` / `{documents: [...]}`, or a `text/plain` upload named by `?name=`. Answers 202 with a
    /// job; the memory appears under its id when the job succeeds.
    func createMemory(_ request: Request) async throws -> Response {
        let data = try await RequestDecoding.body(request, limit: configuration.maxBodyBytes)
        let documents: [(name: String, text: String)]
        if Self.isPlainText(request) {
            let text = try RequestDecoding.utf8Text(data, what: "the uploaded text")
            documents = try DocumentRules.check([(request.uri.queryParameters.get("name") ?? "document", text)])
        } else {
            documents = try RequestDecoding.json(CreateMemoryRequest.self, from: data).validated(limits: configuration)
        }
        let id = await server.registry.newId()
        let registry = server.registry
        let job = await startJob(.memorize, memoryId: id) { progress in
            try await registry.memorize(id, documents: documents, progress: progress)
        }
        return try accepted(job, memoryId: id)
    }

    func addDocument(_ request: Request, id: String) async throws -> Response {
        let data = try await RequestDecoding.body(request, limit: configuration.maxBodyBytes)
        let name: String
        let text: String
        if Self.isPlainText(request) {
            text = try RequestDecoding.utf8Text(data, what: "the uploaded text")
            guard let given = request.uri.queryParameters.get("name") else {
                throw APIError.invalid("name the document with ?name=")
            }
            name = given
        } else {
            let body = try RequestDecoding.json(AddDocumentRequest.self, from: data)
            name = body.name ?? "document-\(ResourceID.random().prefix(6))"
            text = body.text
        }
        _ = try DocumentRules.check([(name, text)])
        let info = try await server.registry.info(id)  // 404 before queueing a job
        if info.documents.contains(where: { $0.name == name }) {
            throw APIError.conflict("memory \(id) already holds a document named '\(name)'")
        }
        let registry = server.registry
        let job = await startJob(.addDocument, memoryId: id) { progress in
            try await registry.addDocument(id, name: name, text: text, progress: progress)
        }
        return try accepted(job, memoryId: id)
    }

    func deleteMemory(_ id: String) async throws -> Response {
        if await server.jobs.activeJobs(on: id) > 0 {
            throw APIError.conflict("memory \(id) has a job running; delete it when the job is done")
        }
        try await server.registry.delete(id)
        return Response(status: .noContent)
    }

    func ask(_ request: Request, id: String) async throws -> Response {
        try await watchingClient(request) { data in
            let body = try RequestDecoding.json(AskRequest.self, from: data)
            let task = body.task ?? .memorag
            try limits.check(query: body.query, task: task, maxNewTokens: body.maxNewTokens)
            let rag = try await pipeline(id)
            let lease = try await acquireSlot()
            defer { lease.release() }
            let result = try await generate {
                try await rag.ask(body.query, task: task, maxNewTokens: body.maxNewTokens)
            }
            return try Response.json(result)
        }
    }

    // MARK: shared

    /// The pipeline over memory `id`. A memory whose memorize job has not finished has no files yet: that is a 409
    /// naming the job (ask again when it succeeds), not a 404.
    func pipeline(_ id: String) async throws -> MemoRAG {
        do {
            return try await server.registry.pipeline(id)
        } catch let error as APIError where error.status == .notFound {
            guard let job = await server.jobs.creatingJob(of: id) else { throw error }
            throw APIError.conflict("memory \(id) is still being memorized by job \(job) (see /v1/jobs/\(job)); "
                + "ask again when that job has succeeded")
        }
    }

    /// Runs `handler` on the request's body while watching the connection: when the client goes away the
    /// handler's task is cancelled, which takes it out of the queue or stops its generation. The body is always
    /// read to its end (Hummingbird's watcher must see the request end); the inbound side is used up, so the
    /// response says `Connection: close`.
    func watchingClient(_ request: Request, _ handler: (Data) async throws -> Response) async throws -> Response {
        let limit = configuration.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw APIError.tooLarge(limit)
        }
        do {
            var response = try await request.body.consumeWithCancellationOnInboundClose { body in
                try await handler(try await RequestDecoding.readToEnd(body, limit: limit))
            }
            response.headers[.connection] = "close"
            return response
        } catch {
            var apiError = APIError.from(error)
            apiError.headers[.connection] = "close"
            throw apiError
        }
    }

    /// Starts a memorize-type job: it waits for an admission slot without a bound (jobs are not refused), then for
    /// the models, and reports progress into its status.
    func startJob(_ kind: JobStatus.Kind, memoryId: String,
                  _ work: @escaping @Sendable (_ progress: @escaping @Sendable (MemorizeProgress) -> Void) async throws
                      -> MemorizeReport) async -> JobStatus {
        let jobs = server.jobs, gate = server.gate, modelTurn = server.modelTurn
        return await jobs.start(kind: kind, memoryId: memoryId) { jobId in
            try await gate.withSlot(bounded: false) {
                try await modelTurn.withSlot(bounded: false) {
                    await jobs.markRunning(jobId)
                    return try await work { progress in Task { await jobs.report(jobId, progress) } }
                }
            }
        }
    }

    /// A model slot for a request, or 429 with `Retry-After` when the queue is full.
    func acquireSlot() async throws -> SlotLease {
        do {
            return try await SlotLease.acquire(server.gate)
        } catch is ConcurrencyGate.Full {
            throw APIError(.tooManyRequests, "busy",
                           "the server is busy (\(configuration.maxConcurrent) running, \(configuration.maxQueued) "
                           + "queued); retry after \(configuration.retryAfterSeconds) s",
                           headers: [.retryAfter: "\(configuration.retryAfterSeconds)"])
        }
    }

    /// Runs a generation; if its task was cancelled meanwhile (the client left), the partial result is dropped.
    func generate<T: Sendable>(_ work: @Sendable () async throws -> T) async throws -> T {
        do {
            let value = try await server.modelTurn.withSlot(bounded: false) { try await work() }
            try Task.checkCancellation()
            return value
        } catch is CancellationError {
            await server.stats.generationCancelled()
            throw CancellationError()
        }
    }

    func accepted(_ job: JobStatus, memoryId: String) throws -> Response {
        try Response.json(JobAccepted(job: job, memoryId: memoryId, statusURL: "/v1/jobs/\(job.id)"), status: .accepted,
                          headers: [.location: "/v1/jobs/\(job.id)"])
    }

    static func isPlainText(_ request: Request) -> Bool {
        (request.headers[.contentType] ?? "").lowercased().hasPrefix("text/plain")
    }
}
