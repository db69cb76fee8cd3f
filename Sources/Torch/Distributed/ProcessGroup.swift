import CTorch
import CTorch.Distributed
import Foundation

/// A c10d process group: `size` ranks that run collectives together (ProcessGroupGloo for CPU tensors). Every rank
/// must call the same collectives in the same order; a peer that dies or stalls makes the pending collective fail
/// with c10d's message within the group's timeout, never hang.
public final class ProcessGroup: @unchecked Sendable {
    public enum Backend: String, Sendable, CaseIterable {
        case gloo, nccl

        var code: Int32 { self == .gloo ? Int32(MR_DIST_BACKEND_GLOO.rawValue) : Int32(MR_DIST_BACKEND_NCCL.rawValue) }

        /// Whether this build can create a group of this backend.
        public var isAvailable: Bool {
            var out: Int32 = 0
            return mr_dist_backend_available(code, &out) == 0 && out != 0
        }
    }

    let handle: mr_dist_group
    public let rank: Int
    public let size: Int
    public let backend: Backend
    /// The store the group rendezvoused through (kept alive as long as the group).
    public let store: DistributedStore

    /// `hostname`: the address this rank's transport listens on (nil: the machine's hostname, or the interface named
    /// by `GLOO_SOCKET_IFNAME`, as torch.distributed does). `threads`: Gloo's worker threads.
    public init(store: DistributedStore, rank: Int, size: Int, backend: Backend = .gloo, timeout: Duration,
                hostname: String? = nil, threads: Int = 2) throws {
        var out: mr_dist_group?
        try checkDistributed(mr_dist_group_new(&out, store.handle, Int32(clamping: rank), Int32(clamping: size),
                                               backend.code, timeout.milliseconds, hostname ?? "",
                                               Int32(clamping: threads)))
        guard let out else { throw TorchError("c10d returned no process group") }
        handle = out
        self.rank = rank
        self.size = size
        self.backend = backend
        self.store = store
    }

    deinit { mr_dist_group_free(handle) }

    /// A collective in flight; `wait()` finishes it (the results are in the tensors afterwards).
    public final class Work {
        private var handle: mr_dist_work?
        private let keepAlive: [Tensor]

        init(handle: mr_dist_work, keepAlive: [Tensor]) {
            self.handle = handle
            self.keepAlive = keepAlive
        }

        deinit { if let handle { mr_dist_work_free(handle) } }

        public func wait() throws {
            guard let handle else { return }
            defer {
                mr_dist_work_free(handle)
                self.handle = nil
            }
            try checkDistributed(mr_dist_work_wait(handle))
        }
    }

    /// Sums `tensors` over all ranks, in place (one collective for the list).
    public func allReduceSum(_ tensors: [Tensor]) throws {
        try withHandles(tensors) { try checkDistributed(mr_dist_all_reduce_sum(handle, $0, $1, nil)) }
    }

    /// Starts summing the gradients of `parameters` over all ranks as one bucket; a parameter with no gradient on
    /// this rank takes part with zeros. The sums are in `.grad` once the returned work is waited for.
    public func startGradientSum(_ parameters: [Tensor]) throws -> Work {
        var out: mr_dist_work?
        try withHandles(parameters) { try checkDistributed(mr_dist_all_reduce_gradients(handle, $0, $1, &out)) }
        guard let out else { throw TorchError("c10d returned no work") }
        return Work(handle: out, keepAlive: parameters)
    }

    /// Copies rank `root`'s values of `tensors` into every rank's.
    public func broadcast(_ tensors: [Tensor], root: Int = 0) throws {
        try withHandles(tensors) { try checkDistributed(mr_dist_broadcast(handle, $0, $1, Int32(clamping: root))) }
    }

    public func barrier() throws { try checkDistributed(mr_dist_barrier(handle)) }
}
