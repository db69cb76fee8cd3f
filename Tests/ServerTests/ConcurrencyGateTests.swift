import Foundation
import XCTest

@testable import Server

/// The admission gate alone (no models): slots, a bounded FIFO queue, refusal beyond it, unbounded waits for jobs,
/// and waiters that leave when their task is cancelled.
final class ConcurrencyGateTests: XCTestCase {
    func testSlotsQueueRefusalAndCancelledWaiters() async throws {
        let gate = ConcurrencyGate(slots: 1, maxQueued: 1)
        try await gate.acquire(bounded: true)
        var running = await gate.running
        XCTAssertEqual(running, 1)

        let order = OrderLog()
        let queued = Task {
            try await gate.acquire(bounded: true)
            await order.append("queued request")
            await gate.release()
        }
        try await waitUntil { await gate.queued == 1 }
        do {
            try await gate.acquire(bounded: true)
            XCTFail("a second waiter beyond the bound must be refused")
        } catch is ConcurrencyGate.Full {}
        var refused = await gate.refused
        XCTAssertEqual(refused, 1)

        // Jobs wait without a bound, behind the queued request.
        let job = Task {
            try await gate.acquire(bounded: false)
            await order.append("job")
            await gate.release()
        }
        try await waitUntil { await gate.queued == 2 }

        // A waiter whose client left is taken out of the queue and gets CancellationError.
        let leaving = Task { try await gate.acquire(bounded: false) }
        try await waitUntil { await gate.queued == 3 }
        leaving.cancel()
        do {
            try await leaving.value
            XCTFail("a cancelled waiter must not get a slot")
        } catch is CancellationError {}
        try await waitUntil { await gate.queued == 2 }

        await gate.release()  // the first holder is done: the slot passes on in FIFO order
        try await queued.value
        try await job.value
        let log = await order.entries
        XCTAssertEqual(log, ["queued request", "job"])
        running = await gate.running
        XCTAssertEqual(running, 0)
        refused = await gate.refused
        XCTAssertEqual(refused, 1)
    }

    private func waitUntil(_ condition: () async -> Bool) async throws {
        for _ in 0..<400 {
            if await condition() { return }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        XCTFail("condition never held")
    }
}

actor OrderLog {
    private(set) var entries: [String] = []
    func append(_ entry: String) { entries.append(entry) }
}
