import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Runs every row of the fault corpus (`FaultCase.models`, `.training`, `.serving`) through the real `memorag`
/// binary: each case makes its input with its own script in a fresh directory, and the CLI must fail with the
/// expected error, within the case's time, under its peak memory, leaving what was saved untouched.
final class FaultCorpusTests: XCTestCase {
    static let corpus = FaultCase.models + FaultCase.training + FaultCase.serving

    func testTheCorpusNamesEachCaseOnce() {
        let names = Self.corpus.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "duplicate case names")
    }

    func testEveryHostileInputFailsClearlyFastAndInBoundedMemory() throws {
        guard let memorag = builtExecutable("memorag") else { return XCTFail("the memorag binary is not built") }
        let only = ProcessInfo.processInfo.environment["MEMORAG_FAULT_CASE"]
        for fault in Self.corpus where only == nil || fault.name == only {
            try run(fault, memorag: memorag)
        }
    }

    private func run(_ fault: FaultCase, memorag: URL) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fault-\(fault.name)-\(getpid())")
        try? FileManager.default.removeItem(at: root)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let variables = ["CASE": root.path, "FIXTURES": tests.path, "MEMORAG": memorag.path]

        let made = try runProcess(URL(fileURLWithPath: "/bin/bash"),
                                  ["-c", "set -euo pipefail; cd \"$CASE\"; " + fault.make], environment: variables)
        guard made.status == 0 else {
            return XCTFail("\(fault.name): its script failed (\(made.status)): \(made.stderr.suffix(2000))")
        }
        let before = try fault.unchanged.map { try fingerprint(root.appendingPathComponent($0)) }

        let arguments = fault.arguments.map { argument in
            variables.reduce(argument) { $0.replacingOccurrences(of: "$" + $1.key, with: $1.value) }
        }
        let outcome = try BoundedRun.run(memorag, arguments, environment: fault.environment,
                                         seconds: fault.seconds, directory: root)
        let context = "\(fault.name): memorag \(arguments.joined(separator: " "))\nstderr: \(outcome.stderr.suffix(1500))"
        XCTAssertFalse(outcome.timedOut, "did not exit within \(fault.seconds) s — \(context)")
        XCTAssertNotEqual(outcome.status, 0, "exited 0 — \(context)")
        XCTAssertFalse(outcome.signaled, "died of a signal (a crash, not an error) — \(context)")
        XCTAssertTrue(outcome.stderr.lowercased().contains(fault.expectedError.lowercased()),
                      "expected an error containing \"\(fault.expectedError)\" — \(context)")
        XCTAssertLessThan(outcome.peakMegabytes, fault.peakMegabytes, "peak RSS \(outcome.peakMegabytes) MB — \(context)")
        for (path, old) in zip(fault.unchanged, before) {
            XCTAssertEqual(try fingerprint(root.appendingPathComponent(path)), old, "\(path) changed — \(context)")
        }
    }

    /// The bytes of a file, or of every file under a directory (with their relative paths), as one string.
    private func fingerprint(_ url: URL) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return "absent" }
        guard isDirectory.boolValue else { return try Data(contentsOf: url).base64EncodedString() }
        let files = (FileManager.default.enumerator(atPath: url.path)?.compactMap { $0 as? String } ?? []).sorted()
        return try files.map { name -> String in
            let file = url.appendingPathComponent(name)
            var dir: ObjCBool = false
            FileManager.default.fileExists(atPath: file.path, isDirectory: &dir)
            return name + ":" + (dir.boolValue ? "dir" : try Data(contentsOf: file).base64EncodedString())
        }.joined(separator: "\n")
    }
}

/// Runs a child with a wall-clock limit and reports its exit, its stderr and its peak resident memory (from
/// `wait4`'s rusage, so only the child itself is measured). A child past its time is killed. The child's address
/// space is capped (`ulimit -v`) well above the bound a case checks, so a runaway allocation fails inside it
/// instead of taking the machine's memory.
enum BoundedRun {
    struct Outcome {
        var status: Int32
        var signaled: Bool
        var timedOut: Bool
        var peakMegabytes: Int
        var stderr: String
    }

    static func run(_ executable: URL, _ arguments: [String], environment: [String: String], seconds: Double,
                    directory: URL, addressSpaceKilobytes: Int = 16 << 20) throws -> Outcome {
        let errFile = directory.appendingPathComponent(".fault-stderr")
        // bash sets the limits and redirections, then execs the CLI in the same process, which wait4 measures.
        let script = "ulimit -v \(addressSpaceKilobytes); exec \"$0\" \"$@\" </dev/null >/dev/null 2>\"$FAULT_STDERR\""
        let argv = ["/bin/bash", "-c", script, executable.path] + arguments
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        env["FAULT_STDERR"] = errFile.path
        let envp = env.map { "\($0.key)=\($0.value)" }

        var pid: pid_t = 0
        let status = withCStrings(argv) { cArgv in
            withCStrings(envp) { cEnv in posix_spawn(&pid, "/bin/bash", nil, nil, cArgv, cEnv) }
        }
        guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EINVAL) }

        let deadline = Date().addingTimeInterval(seconds)
        var waitStatus: Int32 = 0
        var usage = rusage()
        var timedOut = false
        while true {
            let done = wait4(pid, &waitStatus, WNOHANG, &usage)
            if done == pid { break }
            if done < 0 && errno != EINTR { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECHILD) }
            if Date() > deadline, !timedOut {
                timedOut = true
                kill(pid, SIGKILL)
            }
            usleep(20_000)
        }
        let signaled = (waitStatus & 0x7f) != 0 && (waitStatus & 0x7f) != 0x7f
        let exitCode = (waitStatus >> 8) & 0xff
        let stderr = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
        return Outcome(status: signaled ? -1 : exitCode, signaled: signaled && !timedOut, timedOut: timedOut,
                       peakMegabytes: Int(usage.ru_maxrss) / 1024, stderr: stderr)
    }

    /// A NULL-terminated C array of the strings, alive for the duration of `body`.
    private static func withCStrings<R>(_ strings: [String],
                                        _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }
}
