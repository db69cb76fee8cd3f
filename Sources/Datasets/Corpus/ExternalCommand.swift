import Foundation

/// Runs a program (found on PATH) and returns its standard output; a failure is a `DataError.corpus` naming the
/// command and the end of what it wrote to standard error.
func runCommand(_ arguments: [String], in directory: URL? = nil, source: String) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    process.standardInput = FileHandle.nullDevice
    let out = Pipe()
    process.standardOutput = out
    // Standard error goes to a file, so a chatty program cannot block on a full pipe nobody reads.
    let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-cmd-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errURL) }
    process.standardError = try FileHandle(forWritingTo: errURL)
    do { try process.run() } catch {
        throw DataError.corpus(source: source, reason: "cannot run \(arguments[0]): \(error.localizedDescription)")
    }
    let output = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let errData = FileManager.default.contents(atPath: errURL.path) ?? Data()
    guard process.terminationStatus == 0 else {
        let tail = String(decoding: errData.suffix(600), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw DataError.corpus(source: source, reason: "`\(arguments.joined(separator: " "))` failed "
                                   + "(status \(process.terminationStatus)): \(tail)")
    }
    return output
}
