import Foundation

/// A file written under a temporary name next to its destination and renamed over it when complete, so a reader
/// never sees a half-written store (and a crash leaves the old file, if any, in place).
struct AtomicOutput {
    let destination: URL
    let temporary: URL

    init(destination: URL) throws {
        self.destination = destination
        let directory = destination.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw DataError.writeFailed(path: destination.path, reason: "cannot create its directory: \(error.localizedDescription)")
        }
        temporary = directory.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(getpid())-\(UUID().uuidString.prefix(8))")
    }

    /// Moves the temporary file over the destination (rename(2) is atomic within a file system).
    func commit() throws {
        if rename(temporary.path, destination.path) != 0 {
            let reason = String(cString: strerror(errno))
            discard()
            throw DataError.writeFailed(path: destination.path, reason: "rename from \(temporary.lastPathComponent): \(reason)")
        }
    }

    func discard() { try? FileManager.default.removeItem(at: temporary) }
}
