import Foundation

/// A slot of the gate held past the handler's return (a streamed response holds it while it writes). Released
/// once, by `release()` or, if the response is dropped unwritten, when the lease is freed.
final class SlotLease: @unchecked Sendable {
    private let gate: ConcurrencyGate
    private let lock = NSLock()
    private var released = false

    init(gate: ConcurrencyGate) {
        self.gate = gate
    }

    /// Waits for a slot (bounded queue: `ConcurrencyGate.Full` when it is at its bound).
    static func acquire(_ gate: ConcurrencyGate) async throws -> SlotLease {
        try await gate.acquire(bounded: true)
        return SlotLease(gate: gate)
    }

    func release() {
        lock.lock()
        let first = !released
        released = true
        lock.unlock()
        if first {
            let gate = gate
            Task { await gate.release() }
        }
    }

    deinit { release() }
}

/// Counters for /health.
actor ServerStats {
    private(set) var cancelledGenerations = 0

    func generationCancelled() { cancelledGenerations += 1 }
}
