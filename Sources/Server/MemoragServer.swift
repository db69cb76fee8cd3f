import Foundation
import Hummingbird
import Logging
import MemoRAG

/// `memorag serve`: memories as HTTP resources, asks, and an OpenAI-compatible chat endpoint over one set of
/// loaded models.
///
/// ```swift
/// let server = try MemoragServer(configuration: .init(dataDir: dir), models: try MemoRAGModels(configuration: c))
/// try await server.run { port in print("listening on \(port)") }   // until SIGTERM/SIGINT or task cancellation
/// ```
public final class MemoragServer: Sendable {
    public let configuration: ServerConfiguration
    let models: MemoRAGModels
    let registry: MemoryRegistry
    let jobs: JobRegistry
    /// Admission: `maxConcurrent` requests at once, `maxQueued` waiting, the rest 429.
    let gate: ConcurrencyGate
    /// The models themselves run one piece of work at a time (they share weights and the CPU), whatever the
    /// admission allows: every ask and memorize takes this turn while it uses them.
    let modelTurn = ConcurrencyGate(slots: 1, maxQueued: 0)
    let stats = ServerStats()

    public init(configuration: ServerConfiguration, models: MemoRAGModels) throws {
        try configuration.validate()
        self.configuration = configuration
        self.models = models
        registry = try MemoryRegistry(models: models, dataDir: configuration.dataDir)
        jobs = JobRegistry(kept: configuration.keptJobs)
        gate = ConcurrencyGate(slots: configuration.maxConcurrent, maxQueued: configuration.maxQueued)
    }

    /// Serves until SIGTERM/SIGINT (graceful: open requests finish, streams are cut and their generation
    /// cancelled, running memorize jobs complete) or until the calling task is cancelled. `onListening` gets the
    /// bound port.
    public func run(handleSignals: Bool = true, logger: Logger? = nil,
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var log = logger ?? Logger(label: "memorag.serve")
        if logger == nil { log.logLevel = .notice }
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "memorag"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: log)
        do {
            if handleSignals { try await app.runService() } else { try await app.run() }
        } catch {
            await jobs.drain()
            throw error
        }
        await jobs.drain()
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        if let key = configuration.apiKey { router.add(middleware: BearerAuthMiddleware(key: key)) }
        Routes(server: self).register(on: router)
        return router
    }
}
