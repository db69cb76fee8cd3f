import Foundation
import TestSupport
import XCTest

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

/// Runs a child with a wall-clock limit and reports its exit, its stderr and its peak resident memory.
///
/// The measuring is done by a small Python parent rather than by this test process: Linux carries a process's peak
/// RSS across `exec`, so a child spawned straight from a test runner that already holds gigabytes would report the
/// runner's size. Python forks the CLI from its own small image, caps its address space (`RLIMIT_AS`, well above
/// the bound a case checks, so a runaway allocation fails inside the child instead of taking the machine's
/// memory), kills it past its time, and reads its peak from `wait4`.
enum BoundedRun {
    struct Outcome {
        var status: Int32
        var signaled: Bool
        var timedOut: Bool
        var peakMegabytes: Int
        var stderr: String
    }

    static let measurer = """
        import json, os, resource, signal, sys, time
        seconds, address_space, err_path, out_path = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
        argv = sys.argv[5:]
        pid = os.fork()
        if pid == 0:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
            fd_in, fd_out, fd_err = os.open(os.devnull, os.O_RDONLY), os.open(os.devnull, os.O_WRONLY), \
                os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd_in, 0); os.dup2(fd_out, 1); os.dup2(fd_err, 2)
            os.execv(argv[0], argv)
        deadline, timed_out = time.monotonic() + seconds, False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done == pid:
                break
            if not timed_out and time.monotonic() > deadline:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        json.dump({"status": os.waitstatus_to_exitcode(status), "timed_out": timed_out,
                   "peak_kb": usage.ru_maxrss}, open(out_path, "w"))
        """

    static func run(_ executable: URL, _ arguments: [String], environment: [String: String], seconds: Double,
                    directory: URL, addressSpaceBytes: Int = 16 << 30) throws -> Outcome {
        let errFile = directory.appendingPathComponent(".fault-stderr")
        let resultFile = directory.appendingPathComponent(".fault-result.json")
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
        let made = try runProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                  [python, "-c", measurer, "\(seconds)", "\(addressSpaceBytes)", errFile.path,
                                   resultFile.path, executable.path] + arguments,
                                  environment: environment)
        guard made.status == 0, let data = try? Data(contentsOf: resultFile),
              let result = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let status = result["status"] as? Int, let timedOut = result["timed_out"] as? Bool,
              let peak = result["peak_kb"] as? Int else {
            throw NSError(domain: "FaultCorpus", code: 1,
                          userInfo: [NSLocalizedDescriptionKey: "the measuring parent failed: \(made.stderr)"])
        }
        let stderr = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
        // waitstatus_to_exitcode gives -N for a death by signal N.
        return Outcome(status: Int32(status), signaled: status < 0 && !timedOut, timedOut: timedOut,
                       peakMegabytes: peak / 1024, stderr: stderr)
    }
}
