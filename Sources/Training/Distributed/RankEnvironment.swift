import Foundation

/// Which rank this process is, read from the variables torchrun, SLURM wrappers and Kubernetes operators set
/// (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`), so any of them can launch
/// `memorag train` unchanged. `memorag train --nproc-per-node N` sets the same variables for its ranks.
public struct RankEnvironment: Sendable, Equatable {
    public var rank: Int
    public var worldSize: Int
    public var localRank: Int
    public var localWorldSize: Int
    /// Where rank 0 hosts the rendezvous store.
    public var masterAddress: String
    public var masterPort: Int

    public init(rank: Int, worldSize: Int, localRank: Int, localWorldSize: Int, masterAddress: String, masterPort: Int) {
        self.rank = rank
        self.worldSize = worldSize
        self.localRank = localRank
        self.localWorldSize = localWorldSize
        self.masterAddress = masterAddress
        self.masterPort = masterPort
    }

    /// The rank's variables, or nil for a single-process run (no `WORLD_SIZE`, or `WORLD_SIZE=1`). A partial or
    /// inconsistent set is an error naming the variable, never a silent single-process run.
    public static func current(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> RankEnvironment?
    {
        func fail(_ variable: String, _ why: String) -> TrainingError {
            .distributed("environment variable \(variable) \(why)")
        }
        func integer(_ variable: String) throws -> Int? {
            guard let text = environment[variable] else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw fail(variable, "is '\(text)', not an integer")
            }
            return value
        }
        guard let worldSize = try integer("WORLD_SIZE") else {
            if environment["RANK"] != nil { throw fail("WORLD_SIZE", "is not set but RANK is") }
            return nil
        }
        guard worldSize >= 1 else { throw fail("WORLD_SIZE", "must be at least 1, got \(worldSize)") }
        let rank = try integer("RANK") ?? (worldSize == 1 ? 0 : nil)
        guard let rank else { throw fail("RANK", "is not set but WORLD_SIZE=\(worldSize) is") }
        guard (0..<worldSize).contains(rank) else { throw fail("RANK", "is \(rank), outside 0…\(worldSize - 1)") }
        if worldSize == 1 { return nil }
        let localWorldSize = try integer("LOCAL_WORLD_SIZE") ?? worldSize
        let localRank = try integer("LOCAL_RANK") ?? rank
        guard localWorldSize >= 1, (0..<localWorldSize).contains(localRank) else {
            throw fail("LOCAL_RANK", "is \(localRank), outside 0…\(localWorldSize - 1) (LOCAL_WORLD_SIZE=\(localWorldSize))")
        }
        guard let address = environment["MASTER_ADDR"], !address.isEmpty else {
            throw fail("MASTER_ADDR", "is not set (the host of rank 0's rendezvous store)")
        }
        guard let port = try integer("MASTER_PORT") else { throw fail("MASTER_PORT", "is not set") }
        guard (1...65535).contains(port) else { throw fail("MASTER_PORT", "is \(port), not a port in 1…65535") }
        return RankEnvironment(rank: rank, worldSize: worldSize, localRank: localRank, localWorldSize: localWorldSize,
                               masterAddress: address, masterPort: port)
    }

    /// Whether every rank is on this machine's loopback (then the transport binds to 127.0.0.1 and needs no
    /// resolvable hostname).
    public var isLoopback: Bool {
        ["127.0.0.1", "localhost", "::1"].contains(masterAddress) && localWorldSize == worldSize
    }
}
