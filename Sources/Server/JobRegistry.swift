import Foundation
import MemoRAG

/// What `GET /v1/jobs/{id}` shows about a memorize or add-document run.
public struct JobStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case queued, running, succeeded, failed, cancelled
    }

    public enum Kind: String, Codable, Sendable {
        case memorize
        case addDocument = "add_document"
    }

    public struct Progress: Codable, Sendable, Equatable {
        public var stage: String
        public var document: String
        public var done: Int
        public var total: Int
    }

    public var id: String
    public var kind: Kind
    public var memoryId: String
    public var state: State
    public var progress: Progress?
    public var error: String?
    public var report: MemorizeReport?
    public var createdAt: String
    public var finishedAt: String?

    enum CodingKeys: String, CodingKey {
        case id, kind, state, progress, error, report
        case memoryId = "memory_id"
        case createdAt = "created_at"
        case finishedAt = "finished_at"
    }
}

/// Memorize jobs: their status for clients, and the tasks themselves so shutdown can wait for them.
actor JobRegistry {
    private var jobs: [String: JobStatus] = [:]
    private var order: [String] = []
    private var tasks: [String: Task<Void, Never>] = [:]
    private let kept: Int

    init(kept: Int) {
        self.kept = max(1, kept)
    }

    /// Registers a job and starts `work` for it; `work` reports progress through the registry.
    func start(kind: JobStatus.Kind, memoryId: String,
               work: @escaping @Sendable (_ jobId: String) async throws -> MemorizeReport) -> JobStatus {
        let id = "job_" + ResourceID.random()
        let status = JobStatus(id: id, kind: kind, memoryId: memoryId, state: .queued, progress: nil, error: nil,
                               report: nil, createdAt: Self.now(), finishedAt: nil)
        jobs[id] = status
        order.append(id)
        tasks[id] = Task {
            do {
                let report = try await work(id)
                self.finish(id, state: .succeeded, error: nil, report: report)
            } catch is CancellationError {
                self.finish(id, state: .cancelled, error: "cancelled before it finished (server shutting down)",
                            report: nil)
            } catch {
                self.finish(id, state: .failed, error: APIError.from(error).message, report: nil)
            }
        }
        prune()
        return status
    }

    func markRunning(_ id: String) {
        jobs[id]?.state = .running
    }

    func report(_ id: String, _ progress: MemorizeProgress) {
        jobs[id]?.progress = .init(stage: progress.stage.rawValue, document: progress.document, done: progress.done,
                                   total: progress.total)
    }

    func status(_ id: String) -> JobStatus? { jobs[id] }

    /// Jobs not yet finished on `memoryId` (a memory is not deleted under a running job).
    func activeJobs(on memoryId: String) -> Int {
        jobs.values.filter { $0.memoryId == memoryId && ($0.state == .queued || $0.state == .running) }.count
    }

    /// The id of the unfinished job that is creating memory `memoryId` (it has no files until that job succeeds).
    func creatingJob(of memoryId: String) -> String? {
        jobs.values.first {
            $0.memoryId == memoryId && $0.kind == .memorize && ($0.state == .queued || $0.state == .running)
        }?.id
    }

    var active: Int { tasks.count }

    /// Shutdown: cancels jobs that have not started (a running memorize cannot stop midway, and finishing it loses
    /// nothing) and waits for all of them.
    func drain() async {
        for (id, task) in tasks where jobs[id]?.state == .queued { task.cancel() }
        while let task = tasks.values.first {
            await task.value
        }
    }

    private func finish(_ id: String, state: JobStatus.State, error: String?, report: MemorizeReport?) {
        jobs[id]?.state = state
        jobs[id]?.error = error
        jobs[id]?.report = report
        jobs[id]?.finishedAt = Self.now()
        tasks[id] = nil
        prune()
    }

    /// Forgets the oldest finished jobs beyond the kept number.
    private func prune() {
        var excess = order.count - kept
        guard excess > 0 else { return }
        order.removeAll { id in
            guard excess > 0, tasks[id] == nil else { return false }
            excess -= 1
            jobs[id] = nil
            return true
        }
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }
}

/// Server-side ids: random, URL-safe, unguessable enough that one client cannot find another's memories by
/// counting.
enum ResourceID {
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<16).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    /// Ids this server could have made; anything else in a path is a 404 without touching the file system.
    static func isWellFormed(_ id: String, prefix: String = "") -> Bool {
        guard id.hasPrefix(prefix) else { return false }
        let body = id.dropFirst(prefix.count)
        return body.count == 16 && body.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
    }
}
