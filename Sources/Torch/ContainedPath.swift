import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File names that come from data — a cache manifest's memory file, a checkpoint index's shard, a beacon delta's
/// base — resolved inside the directory they belong to. Such a file was written by whoever made the data, so a name
/// like `../other/memory.safetensors`, `/etc/passwd` or a symlink leading out of the directory must not make a
/// loader read outside it. Every read site of such a name goes through `resolve`.
public enum ContainedPath {
    /// A name that would leave its directory; `reason` says how.
    public struct Escape: Error, LocalizedError, Equatable, Sendable {
        public let name: String
        public let directory: String
        public let reason: String

        public var errorDescription: String? {
            "\"\(name)\" is not a file inside \(directory): \(reason)"
        }
    }

    /// The URL of relative `name` inside `directory`. Refuses an empty or absolute name, a `.`/`..`/empty component,
    /// a NUL, and — when the file exists — a path whose symlinks resolve outside the (symlink-resolved) directory.
    /// A name that passes but does not exist comes back as is: the caller's own "cannot open" names it.
    public static func resolve(_ name: String, in directory: URL) throws -> URL {
        func escape(_ reason: String) -> Escape { Escape(name: name, directory: directory.path, reason: reason) }
        guard !name.isEmpty else { throw escape("the name is empty") }
        guard !name.contains("\0") else { throw escape("it contains a NUL byte") }
        guard !name.hasPrefix("/") else { throw escape("it is an absolute path") }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        if components.contains(where: { $0 == ".." }) { throw escape("it climbs out with '..'") }
        if components.contains(where: { $0.isEmpty || $0 == "." }) { throw escape("it has an empty or '.' component") }

        let url = directory.appendingPathComponent(name)
        guard let real = realPath(url.path) else { return url }  // absent: nothing to follow
        guard let root = realPath(directory.path) else { return url }
        let prefix = root.hasSuffix("/") ? root : root + "/"
        guard real.hasPrefix(prefix) else { throw escape("it is a symlink to \(real), outside the directory") }
        return url
    }

    /// `realpath(3)`: the absolute path with every symlink followed, nil when it does not exist.
    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
