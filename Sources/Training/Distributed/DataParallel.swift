import Foundation
import Torch

/// One rank of a data-parallel run on libtorch's c10d: the rendezvous store (hosted by rank 0), a Gloo process
/// group, and the few collectives the trainer needs — parameters broadcast from rank 0, gradients summed in buckets,
/// scalar sums for losses and token counts, and small facts (fingerprints, cursors) exchanged through the store.
///
/// Every collective failure becomes a `TrainingError.distributed` that names the ranks that stopped answering (a
/// census through the store right after the failure), so a killed rank never leaves the others hanging or guessing.
public final class DataParallel {
    public let environment: RankEnvironment
    public let backend: ProcessGroup.Backend
    public let timeout: Duration
    public var rank: Int { environment.rank }
    public var worldSize: Int { environment.worldSize }
    public var isRankZero: Bool { rank == 0 }
    /// Seconds this rank spent in the per-step collectives (gradient buckets, loss and token sums). None of it
    /// overlaps computation: the gradients are summed after the step's last backward pass.
    public private(set) var communicationSeconds = 0.0

    private let store: DistributedStore
    private let group: ProcessGroup
    private let bucketBytes: Int
    private var buckets: [[Tensor]]?

    /// Rendezvous: rank 0 hosts the store at MASTER_ADDR:MASTER_PORT and every rank joins it, then the process group
    /// connects all ranks; both wait at most `distributed.timeout_s`.
    public init(_ environment: RankEnvironment, settings: Recipe.Distributed?) throws {
        self.environment = environment
        let seconds = settings?.timeoutS ?? Recipe.Distributed.defaultTimeoutS
        timeout = .milliseconds(Int64(seconds * 1000))
        bucketBytes = Int((settings?.bucketMB ?? Recipe.Distributed.defaultBucketMB) * 1_000_000)
        backend = try Self.backend(settings?.backend ?? .auto)
        let address = "\(environment.masterAddress):\(environment.masterPort)"
        do {
            store = try DistributedStore(host: environment.masterAddress, port: environment.masterPort,
                                         isServer: environment.rank == 0, worldSize: environment.worldSize,
                                         timeout: timeout)
        } catch {
            throw TrainingError.distributed(environment.rank == 0
                ? "rank 0 could not host the rendezvous store on \(address) with all \(environment.worldSize) ranks "
                  + "joining within \(Int(seconds)) s (port in use, wrong MASTER_ADDR, or ranks missing): \(error.localizedDescription)"
                : "rank \(environment.rank) could not join the rendezvous store at \(address) within \(Int(seconds)) s "
                  + "(is rank 0 running and MASTER_ADDR reachable?): \(error.localizedDescription)")
        }
        try Self.checkWorldSize(store, environment)
        do {
            group = try ProcessGroup(store: store, rank: environment.rank, size: environment.worldSize, backend: backend,
                                     timeout: timeout, hostname: environment.isLoopback ? "127.0.0.1" : nil, threads: 2)
        } catch {
            throw TrainingError.distributed("rank \(environment.rank) could not connect the \(backend.rawValue) process "
                + "group of \(environment.worldSize) ranks: \(error.localizedDescription)")
        }
    }

    /// Every rank publishes its `WORLD_SIZE` and compares it with rank 0's, before the process group waits for ranks
    /// that will never come.
    private static func checkWorldSize(_ store: DistributedStore, _ environment: RankEnvironment) throws {
        do {
            try compareWithRankZero(store, key: "memorag/world-size", rank: environment.rank,
                                    worldSize: environment.worldSize, mine: environment.worldSize,
                                    read: { _, get in try get() }) { rankZeros, other, theirs in
                rankZeros == theirs ? nil : TrainingError.distributed("rank \(other) has WORLD_SIZE=\(theirs) but rank 0 "
                    + "has WORLD_SIZE=\(rankZeros); every rank must be started with the same world size")
            }
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.distributed("rank \(environment.rank) could not exchange world sizes through the "
                + "rendezvous store: " + error.localizedDescription)
        }
    }

    /// Every rank publishes `mine` under `key`; rank 0 reads the values of ranks 1…N−1 and the others read rank 0's,
    /// so a mismatch fails on both sides, naming the rank. `mismatch(rankZeros, other, others)` describes a pair that
    /// must not run together (nil when it may); `read(other, get)` wraps the store read in the caller's errors.
    ///
    /// Rank 0 hosts the store, so a failing rank 0 takes it down with it. The other ranks mark rank 0's value read;
    /// before failing on a mismatch rank 0 waits for those marks, so every rank fails with the named mismatch instead
    /// of losing the store mid-read ("connection reset by peer").
    private static func compareWithRankZero<Value: Codable>(
        _ store: DistributedStore, key: String, rank: Int, worldSize: Int, mine: Value,
        read: (_ other: Int, _ get: () throws -> Value) throws -> Value,
        mismatch: (_ rankZeros: Value, _ other: Int, _ others: Value) -> TrainingError?
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try store.set("\(key)/\(rank)", encoder.encode(mine))
        var firstMismatch: TrainingError?
        for other in rank == 0 ? Array(1..<worldSize) : [0] {
            let theirs = try read(other) { try JSONDecoder().decode(Value.self, from: store.get("\(key)/\(other)")) }
            if rank != 0 { try? store.set("\(key)/read-by/\(rank)", Data("1".utf8)) }
            let (rankZeros, otherRank, others) = rank == 0 ? (mine, other, theirs) : (theirs, rank, mine)
            if firstMismatch == nil { firstMismatch = mismatch(rankZeros, otherRank, others) }
        }
        guard let firstMismatch else { return }
        if rank == 0 { for other in 1..<worldSize { _ = try? store.get("\(key)/read-by/\(other)") } }
        throw firstMismatch
    }

    /// `auto` is Gloo while tensors live on the CPU (all of this build's); NCCL needs CUDA tensors.
    static func backend(_ choice: Recipe.Distributed.Backend) throws -> ProcessGroup.Backend {
        switch choice {
        case .auto, .gloo: return .gloo
        case .nccl:
            guard ProcessGroup.Backend.nccl.isAvailable else {
                throw RecipeError.invalidValue(key: "distributed.backend", reason: "nccl needs CUDA tensors and a libtorch "
                    + "with NCCL; this build trains on the CPU: use gloo (or auto)")
            }
            return .nccl
        }
    }

    // MARK: - Agreement before step 1

    /// Every rank publishes its fingerprint; each compares with rank 0's (and rank 0 with everyone's), so a rank that
    /// runs another recipe, model or data is refused on both sides before any step, naming it and the difference.
    public func agree(on fingerprint: RunFingerprint) throws {
        try Self.compareWithRankZero(store, key: "memorag/fingerprint", rank: rank, worldSize: worldSize,
                                     mine: fingerprint,
                                     read: { other, get in try exchange("the run fingerprint of rank \(other)", get) }) {
            rankZeros, other, theirs in
            rankZeros.difference(from: theirs).map {
                TrainingError.distributed("rank \(other) does not run what rank 0 runs: \($0); every rank must start "
                    + "the same recipe on the same model and data")
            }
        }
    }

    /// Rank 0's `value` on every rank (through the store): for choices that must not be made twice, such as a dtype
    /// measured on the machine or the checkpoint to resume from.
    public func shareFromRankZero(_ key: String, _ value: () throws -> Data) throws -> Data {
        if isRankZero {
            let data = try value()
            try store.set("memorag/shared/\(key)", data)
            return data
        }
        return try exchange(key) { try store.get("memorag/shared/\(key)") }
    }

    /// Every rank's `value`, on rank 0 in rank order (nil on the other ranks).
    public func gatherOnRankZero(_ key: String, _ value: Data) throws -> [Data]? {
        try store.set("memorag/gather/\(key)/\(rank)", value)
        guard isRankZero else { return nil }
        return try (0..<worldSize).map { r in try exchange("\(key) of rank \(r)") { try store.get("memorag/gather/\(key)/\(r)") } }
    }

    // MARK: - Collectives

    /// Rank 0's values of `tensors` into every rank's (in buckets).
    public func broadcast(_ tensors: [Tensor]) throws {
        for bucket in Self.buckets(tensors, bytes: bucketBytes) {
            try collective("the broadcast of the parameters") { try group.broadcast(bucket, root: 0) }
        }
    }

    /// Sums the gradients of `parameters` over the ranks, bucket by bucket, every bucket in flight at once (the
    /// buckets follow the reverse parameter order, the order backward finishes them in).
    ///
    /// A parameter no backward pass reached has no gradient, and AdamW leaves it alone (no step, no weight decay).
    /// The buckets need a tensor from every rank, so such a parameter takes part with zeros; where it had a gradient
    /// on no rank, it gets none back, exactly as in one process.
    public func sumGradients(_ parameters: [Tensor], step: Int) throws {
        let reached = try sum(parameters.map { try $0.grad == nil ? 0 : 1 }, what: "the gradient census of step \(step)")
        let buckets = self.buckets ?? Self.buckets(parameters.reversed(), bytes: bucketBytes)
        self.buckets = buckets
        let start = ContinuousClock.now
        defer { communicationSeconds += (ContinuousClock.now - start).seconds }
        try collective("the gradient all-reduce of step \(step)") {
            let works = try buckets.map { try group.startGradientSum($0) }
            for work in works { try work.wait() }
        }
        for (parameter, ranks) in zip(parameters, reached) where ranks == 0 { try parameter.setGrad(nil) }
    }

    /// `values` summed over the ranks (float64, so token counts stay exact).
    public func sum(_ values: [Double], what: String) throws -> [Double] {
        let tensor = try Tensor(values, shape: [values.count])
        let start = ContinuousClock.now
        defer { communicationSeconds += (ContinuousClock.now - start).seconds }
        try collective(what) { try group.allReduceSum([tensor]) }
        return try tensor.toArray(Double.self)
    }

    public func barrier(_ what: String) throws { try collective(what) { try group.barrier() } }

    /// Consecutive runs of `tensors` of at most `bytes` each (a tensor larger than that is a bucket of its own).
    static func buckets<S: Sequence>(_ tensors: S, bytes: Int) -> [[Tensor]] where S.Element == Tensor {
        var buckets: [[Tensor]] = [], current: [Tensor] = [], size = 0
        for tensor in tensors {
            let bytesOfTensor = tensor.count * tensor.dtype.byteSize
            if !current.isEmpty, size + bytesOfTensor > bytes {
                buckets.append(current)
                current = []
                size = 0
            }
            current.append(tensor)
            size += bytesOfTensor
        }
        if !current.isEmpty { buckets.append(current) }
        return buckets
    }

    // MARK: - Failures

    private func collective<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw TrainingError.distributed("rank \(rank): \(what) failed: \(error.localizedDescription). "
                + census())
        }
    }

    private func exchange<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DecodingError {
            throw TrainingError.distributed("rank \(rank) could not read \(what): \(error)")
        } catch {
            throw TrainingError.distributed("rank \(rank) could not read \(what) from the rendezvous store: "
                + "\(error.localizedDescription). " + census())
        }
    }

    /// Which ranks still answer: each survivor marks itself in the store and looks, for a few seconds, for the
    /// others' marks. When the store itself is gone, rank 0 (its host) is the one that stopped.
    private func census() -> String {
        let deadline = ContinuousClock.now + .seconds(3)
        do {
            try store.set("memorag/census/\(rank)", Data([1]))
            var silent: [Int] = []
            repeat {
                silent = try (0..<worldSize).filter { try !store.contains("memorag/census/\($0)") }
                if silent.isEmpty { break }
                Thread.sleep(forTimeInterval: 0.1)
            } while ContinuousClock.now < deadline
            if silent.isEmpty { return "Every rank still answers (a rank failed on its own; see its output)." }
            return "Rank(s) \(silent.map(String.init).joined(separator: ", ")) stopped answering (killed, crashed or "
                + "hung; see their output)."
        } catch {
            return rank == 0 ? "The rendezvous store is unusable." : "Rank 0 stopped answering (its rendezvous store is gone)."
        }
    }
}
