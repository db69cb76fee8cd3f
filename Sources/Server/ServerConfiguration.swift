import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `memorag serve` listens and what it allows. The limits are per request; see `ConcurrencyGate` for load.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); the bound port is reported by `MemoragServer.run(onListening:)`.
    public var port = 8080
    /// Memories live in `dataDir/memories/<id>` (one cache dir each).
    public var dataDir: URL
    /// Bearer token every request except `/health` and `/openapi.json` must carry; nil turns auth off.
    public var apiKey: String?
    /// Without a key the server refuses to listen beyond loopback unless this is set.
    public var allowUnauthenticatedRemote = false
    /// Requests using the models at once; the models sit behind one actor, so more than one only overlaps the
    /// parts outside generation (request parsing, streaming out).
    public var maxConcurrent = 1
    /// Requests waiting for a model slot; one more gets 429.
    public var maxQueued = 8
    /// Seconds a 429 asks the client to wait.
    public var retryAfterSeconds = 1
    /// Largest request body in bytes (413 beyond).
    public var maxBodyBytes = 8 << 20
    /// Longest query in memory-model tokens (400 beyond).
    public var maxQueryTokens = 1024
    /// Upper bound for `max_new_tokens` / `max_tokens`.
    public var maxNewTokens = 1024
    /// Finished jobs kept for `GET /v1/jobs/{id}`.
    public var keptJobs = 1000
    /// The `model` name reported by `/v1/models`-style fields and chat completions.
    public var modelName = "memorag"

    public init(dataDir: URL) {
        self.dataDir = dataDir
    }

    /// True for addresses that only this machine can reach: `localhost`, an IPv4 address in 127.0.0.0/8, or `::1`.
    /// The host is parsed as an address, not matched as text, so a name such as `127.example.com` (which DNS may
    /// send anywhere) is not loopback.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) } == [UInt8](repeating: 0, count: 15) + [1]
        }
        return false
    }

    /// Throws when the settings are unusable or unsafe (a public address without a key).
    public func validate() throws {
        guard maxConcurrent >= 1 else { throw ServerError.invalidConfiguration("--max-concurrent must be at least 1") }
        guard maxQueued >= 0 else { throw ServerError.invalidConfiguration("the queue bound must not be negative") }
        guard (0...65535).contains(port) else { throw ServerError.invalidConfiguration("port \(port) is out of range") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dataDir.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ServerError.invalidConfiguration("the data dir \(dataDir.path) is a file, not a directory: pass "
                + "--data-dir a directory (it is created when missing)")
        }
        if apiKey == nil, !allowUnauthenticatedRemote, !Self.isLoopback(host) {
            throw ServerError.invalidConfiguration("refusing to listen on \(host) without an API key: pass "
                + "--api-key-file, or --allow-unauthenticated-remote if this network is trusted")
        }
        if let apiKey, apiKey.isEmpty { throw ServerError.invalidConfiguration("the API key is empty") }
    }
}

/// Failures of setting the server up (not of requests: those are `APIError`s).
public enum ServerError: Error, LocalizedError, Equatable {
    case invalidConfiguration(String)
    case unreadableKeyFile(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .invalidConfiguration(let message): return message
        case .unreadableKeyFile(let path, let reason): return "\(path): cannot read the API key: \(reason)"
        }
    }

    /// Reads a key file: the first line, trimmed; an empty file is an error.
    public static func readKey(at url: URL) throws -> String {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ServerError.unreadableKeyFile(path: url.path, reason: error.localizedDescription)
        }
        let key = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !key.isEmpty else { throw ServerError.unreadableKeyFile(path: url.path, reason: "the file is empty") }
        return key
    }
}
