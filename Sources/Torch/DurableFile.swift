import Foundation

/// Small files (JSON state, pointers) written all-or-nothing and flushed to disk: a reader sees the old content or
/// the new, never a torn file, even after a crash. The same writer as the safetensors files.
public enum DurableFile {
    public static func write(_ data: Data, to url: URL) throws {
        try AtomicFileWriter.write(to: url) { sink in try data.withUnsafeBytes { try sink($0) } }
    }
}
