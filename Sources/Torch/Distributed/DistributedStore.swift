import CTorch
import CTorch.Distributed
import Foundation

/// A c10d `TCPStore`: the key-value rendezvous of torch.distributed (what torchrun's `MASTER_ADDR:MASTER_PORT`
/// names). Rank 0 hosts it; every rank, rank 0 included, is a client. Ranks exchange small facts through it (run
/// fingerprints, checkpoint cursors) and the process group finds its peers through it.
public final class DistributedStore: @unchecked Sendable {
    let handle: mr_dist_store
    public let host: String
    public let port: Int

    /// Hosts (`isServer`) or joins the store at host:port. The host waits up to `timeout` for all `worldSize` ranks
    /// to connect; a client keeps trying to connect for as long. The timeout also bounds every `get`.
    public init(host: String, port: Int, isServer: Bool, worldSize: Int, timeout: Duration) throws {
        var out: mr_dist_store?
        try checkDistributed(mr_dist_store_connect(&out, host, Int32(clamping: port), isServer ? 1 : 0,
                                                   Int32(clamping: worldSize), timeout.milliseconds))
        guard let out else { throw TorchError("c10d returned no store") }
        handle = out
        self.host = host
        self.port = port
    }

    deinit { mr_dist_store_free(handle) }

    public func set(_ key: String, _ value: Data) throws {
        try value.withUnsafeBytes { bytes in
            try checkDistributed(mr_dist_store_set(handle, key, bytes.bindMemory(to: UInt8.self).baseAddress,
                                                   Int64(bytes.count)))
        }
    }

    /// The value of `key`, waiting for another rank to set it (up to the store's timeout).
    public func get(_ key: String) throws -> Data {
        var buffer: UnsafeMutablePointer<UInt8>?
        var count: Int64 = 0
        try checkDistributed(mr_dist_store_get(handle, key, &buffer, &count))
        defer { mr_dist_bytes_free(buffer) }
        guard let buffer else { return Data() }
        return Data(bytes: buffer, count: Int(count))
    }

    /// Whether `key` is set now.
    public func contains(_ key: String) throws -> Bool {
        var out: Int32 = 0
        try checkDistributed(mr_dist_store_check(handle, key, &out))
        return out != 0
    }

    /// Adds `delta` to the counter `key` (created at 0) and returns the new value.
    @discardableResult
    public func add(_ key: String, _ delta: Int) throws -> Int {
        var out: Int64 = 0
        try checkDistributed(mr_dist_store_add(handle, key, Int64(delta), &out))
        return Int(out)
    }
}

@inline(__always)
func checkDistributed(_ status: Int32) throws {
    if status != 0 { throw TorchError(String(cString: mr_dist_last_error())) }
}

extension Duration {
    /// Whole milliseconds (at least 1), as c10d takes its timeouts.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
