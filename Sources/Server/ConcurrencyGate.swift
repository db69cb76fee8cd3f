import Foundation

/// Admission to the models: at most `slots` holders at once, then a FIFO queue. Requests queue up to `maxQueued`
/// and beyond that are refused at once (the caller answers 429); background jobs wait without a bound. A waiter
/// whose task is cancelled (its client went away) leaves the queue.
actor ConcurrencyGate {
    struct Full: Error {}

    let slots: Int
    let maxQueued: Int
    private(set) var running = 0
    private var waiters: [Waiter] = []
    private var nextId: UInt64 = 0
    /// Requests refused since start (for /health).
    private(set) var refused = 0

    private struct Waiter {
        var id: UInt64
        var bounded: Bool
        var continuation: CheckedContinuation<Void, Error>
    }

    init(slots: Int, maxQueued: Int) {
        self.slots = max(1, slots)
        self.maxQueued = max(0, maxQueued)
    }

    var queued: Int { waiters.count }

    /// Runs `body` holding a slot. `bounded` requests throw `Full` when the queue is at its bound.
    func withSlot<T: Sendable>(bounded: Bool = true, _ body: @Sendable () async throws -> T) async throws -> T {
        try await acquire(bounded: bounded)
        defer { release() }
        return try await body()
    }

    func acquire(bounded: Bool) async throws {
        try Task.checkCancellation()
        if running < slots && waiters.isEmpty {
            running += 1
            return
        }
        if bounded && waiters.filter(\.bounded).count >= maxQueued {
            refused += 1
            throw Full()
        }
        nextId += 1
        let id = nextId
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                waiters.append(Waiter(id: id, bounded: bounded, continuation: continuation))
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    func release() {
        if waiters.isEmpty {
            running -= 1
        } else {
            // The slot passes straight to the oldest waiter; `running` stays the same.
            waiters.removeFirst().continuation.resume()
        }
    }

    private func cancelWaiter(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }
}
