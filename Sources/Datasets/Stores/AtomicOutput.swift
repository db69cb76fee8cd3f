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

// The life of a store file, the same for both writers (TokenStoreWriter, SFTStoreWriter).
extension AtomicOutput {
    /// Refuses a vocabulary whose ids do not fit the stores' uint32 tokens, then opens a new HDF5 file under the
    /// temporary name of `url`.
    static func openStore(url: URL, vocabSize: Int) throws -> (AtomicOutput, H5File) {
        guard vocabSize > 0, vocabSize <= Int(UInt32.max) else {
            throw DataError.writeFailed(path: url.path, reason: "vocabulary size \(vocabSize) does not fit uint32 ids")
        }
        let output = try AtomicOutput(destination: url)
        return (output, try H5File.create(path: output.temporary.path))
    }

    /// Runs `write` (the writer's last datasets and attributes) and flushes `file`; then `close` (the writer drops its
    /// handles, closing the file) and the rename into place. On any error the temporary file is removed instead, so
    /// a failed store never replaces the destination.
    func finishStore(_ file: H5File, write: () throws -> Void, close: () -> Void) throws {
        do {
            try write()
            try file.flush()
        } catch {
            close()
            discard()
            throw error
        }
        close()
        try commit()
    }
}
