import Foundation
import Torch
#if canImport(Glibc)
import Glibc
#endif

/// The checkpoints of a training output dir: `step-N/` directories, each complete by construction.
///
/// A checkpoint is written into `.tmp-step-N-PID/`, every file flushed, the directory flushed, and only then renamed
/// to `step-N/` (rename is atomic), after which `latest` (a one-line file naming it, replaced atomically) is updated
/// and checkpoints beyond the newest `keepLast` are retired (renamed to `.trash-…` first, then removed). So a process
/// killed at any moment leaves every `step-N/` whole; leftovers named `.tmp-*` / `.trash-*` are ignored and removed
/// by `removeLeftovers()`. The newest checkpoint is the highest complete `step-N/`, even if `latest` was not yet
/// updated when the process died. A `step-N/` that lacks one of `requiredFiles` (emptied or damaged by hand or by
/// the file system) is not a checkpoint: `incomplete()` names it and why, and it is never resumed from.
public struct CheckpointStore: Sendable {
    public let directory: URL
    public static let latestFileName = "latest"
    /// What every checkpoint the trainer writes holds.
    public static let requiredFiles = ["config.json", "model.safetensors", TrainerState.fileName,
                                       TrainerState.optimizerFileName]

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public static func name(step: Int) -> String { "step-\(step)" }

    /// Every `step-N/` directory, complete or not, oldest first.
    private func stepDirectories() -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5)), step >= 0 else { return nil }
            return (step, directory.appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// Why a `step-N/` directory is not a complete checkpoint (nil when it is).
    private func missing(in url: URL) -> String? {
        let absent = Self.requiredFiles.filter { !FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }
        return absent.isEmpty ? nil : "no " + absent.joined(separator: ", ")
    }

    /// Complete checkpoints, oldest first.
    public func checkpoints() -> [(step: Int, url: URL)] { stepDirectories().filter { missing(in: $0.url) == nil } }

    /// `step-N/` directories that are not complete checkpoints, with what they lack.
    public func incomplete() -> [(name: String, reason: String)] {
        stepDirectories().compactMap { dir in missing(in: dir.url).map { (dir.url.lastPathComponent, $0) } }
    }

    /// Whether the dir holds a run: any `step-N/`, complete or not.
    public var holdsARun: Bool { !stepDirectories().isEmpty }

    public func newest() -> (step: Int, url: URL)? { checkpoints().last }

    /// Partial checkpoints and half-deleted old ones from a killed process, and the temporary files of its atomic
    /// writes (`.latest.tmp-PID`, `.recipe.yaml.tmp-PID`, …); returns their names.
    ///
    /// Partial checkpoint dirs are removed whatever their PID (this is called before the trainer writes any). A
    /// temporary file is removed only when the process named by its PID is gone: one trainer owns a run dir, but
    /// nothing stops a second from being started on it by mistake, and deleting a live writer's temporary file
    /// would make its rename fail. A PID reused since the kill leaves the file for the next start.
    @discardableResult
    public func removeLeftovers() throws -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let leftovers = names.filter {
            $0.hasPrefix(".tmp-step-") || $0.hasPrefix(".trash-step-") || Self.isStaleTemporaryFile($0)
        }
        for name in leftovers { try FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        return leftovers.sorted()
    }

    /// `.NAME.tmp-PID` (what `DurableFile.write` writes before its rename) of a process that no longer runs.
    static func isStaleTemporaryFile(_ name: String) -> Bool {
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-", options: .backwards),
              let pid = pid_t(name[marker.upperBound...]), pid > 0 else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Writes checkpoint `step`: `write` fills the given (empty, temporary) directory; it becomes `step-N/` only
    /// once everything in it is on disk. Returns the checkpoint's URL.
    @discardableResult
    public func save(step: Int, keepLast: Int, _ write: (URL) throws -> Void) throws -> URL {
        let fm = FileManager.default
        let temporary = directory.appendingPathComponent(".tmp-\(Self.name(step: step))-\(getpid())")
        if fm.fileExists(atPath: temporary.path) { try fm.removeItem(at: temporary) }
        try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
        try write(temporary)
        for name in try fm.contentsOfDirectory(atPath: temporary.path) {
            try Self.sync(temporary.appendingPathComponent(name))
        }
        try Self.sync(temporary)

        let final = directory.appendingPathComponent(Self.name(step: step))
        if fm.fileExists(atPath: final.path) { try retire(final) }
        guard rename(temporary.path, final.path) == 0 else {
            throw TrainingError.checkpoint(path: final.path, reason: "cannot rename \(temporary.lastPathComponent) into place (errno \(errno))")
        }
        try Self.sync(directory)
        try DurableFile.write(Data("\(Self.name(step: step))\n".utf8), to: directory.appendingPathComponent(Self.latestFileName))

        for old in checkpoints().dropLast(keepLast) { try retire(old.url) }
        return final
    }

    /// Renames a checkpoint out of the `step-N` namespace before deleting it, so a half-deleted one never looks complete.
    private func retire(_ url: URL) throws {
        let trash = directory.appendingPathComponent(".trash-\(url.lastPathComponent)-\(getpid())")
        guard rename(url.path, trash.path) == 0 else {
            throw TrainingError.checkpoint(path: url.path, reason: "cannot retire it (errno \(errno))")
        }
        try FileManager.default.removeItem(at: trash)
    }

    /// fsync a file or directory.
    static func sync(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TrainingError.checkpoint(path: url.path, reason: "cannot open to flush (errno \(errno))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw TrainingError.checkpoint(path: url.path, reason: "cannot flush (errno \(errno))") }
    }
}
