import Foundation
import TestSupport
import Torch
import Training
import XCTest

/// A run killed with SIGKILL and resumed ends bitwise where an uninterrupted run ends: the `memorag train` binary
/// runs as a subprocess, is killed right after its first checkpoint, and is started again with resume=true.
final class ResumeTests: XCTestCase {
    private var logs: [URL] = []

    override func tearDown() {
        // Shown on failure; removed either way.
        for log in logs {
            if testRun?.hasSucceeded == false, let text = try? String(contentsOf: log, encoding: .utf8) { print(text.suffix(3000)) }
            try? FileManager.default.removeItem(at: log)
        }
    }

    static func memoragBinary() throws -> URL {
        guard let binary = builtExecutable("memorag") else {
            throw XCTSkip("the memorag binary is not built next to the tests (scripts/test.sh builds it)")
        }
        return binary
    }

    private func train(_ binary: URL, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["train", recipesDirectory.appendingPathComponent("tiny-test.yaml").path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMP_WAIT_POLICY"] = "passive"
        process.environment = environment
        // Output goes to a log file (a pipe nobody reads could fill and stall the child).
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-resume-test-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = try FileHandle(forWritingTo: log)
        logs.append(log)
        try process.run()
        return process
    }

    func testRunKilledWithSIGKILLResumesBitwise() throws {
        let binary = try Self.memoragBinary()
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let common = ["model.path=\(work.modelDir.path)", "data.train=\(work.tokens.path)", "max_steps=120",
                      "checkpoint.every=10", "checkpoint.keep_last=3", "threads=1", "data.validation=\(work.tokens.path)",
                      "validation.every=25"]
        let whole = work.root.appendingPathComponent("whole"), killed = work.root.appendingPathComponent("killed")

        let uninterrupted = try train(binary, common + ["output_dir=\(whole.path)"])
        uninterrupted.waitUntilExit()
        XCTAssertEqual(uninterrupted.terminationStatus, 0)

        let victim = try train(binary, common + ["output_dir=\(killed.path)"])
        let latest = killed.appendingPathComponent("latest")
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: latest.path), victim.isRunning, Date() < deadline { usleep(500) }
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        XCTAssertEqual(victim.terminationReason, .uncaughtSignal, "the run finished before it could be killed")
        let store = try CheckpointStore(directory: killed)
        let survivor = try XCTUnwrap(store.newest())
        XCTAssertLessThan(survivor.step, 120)

        let resumed = try train(binary, common + ["output_dir=\(killed.path)", "resume=true"])
        resumed.waitUntilExit()
        XCTAssertEqual(resumed.terminationStatus, 0)

        for file in ["model.safetensors", "trainer_state.safetensors"] {
            let a = try Data(contentsOf: whole.appendingPathComponent("step-120/\(file)"))
            let b = try Data(contentsOf: killed.appendingPathComponent("step-120/\(file)"))
            XCTAssertTrue(a == b, "\(file) differs after resuming from step \(survivor.step)")
        }
        // The logs agree line for line on everything but timing (lines the killed process wrote after its last
        // checkpoint were cut off on resume).
        func comparable(_ run: URL) throws -> [String] {
            try TinyRun.metrics(run).map { line in
                ["step", "loss", "lr", "grad_norm", "val_loss"].compactMap { key in line[key].map { "\(key)=\($0)" } }
                    .joined(separator: " ")
            }
        }
        let expected = try comparable(whole)
        XCTAssertEqual(expected.count, 120 + 5 + 1, "120 steps, validation at the start and every 24 steps")
        XCTAssertEqual(try comparable(killed), expected)
    }
    /// Kills at arbitrary moments (mid-step, mid-checkpoint, mid-cleanup), each time checking that every `step-N` left
    /// behind is complete and loadable, then resumes; the final checkpoint still equals the uninterrupted run's.
    func testKillsAtRandomMomentsNeverCorruptACheckpoint() throws {
        let binary = try Self.memoragBinary()
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let common = ["model.path=\(work.modelDir.path)", "data.train=\(work.tokens.path)", "max_steps=80",
                      "checkpoint.every=4", "checkpoint.keep_last=2", "threads=1"]
        let whole = work.root.appendingPathComponent("whole"), killed = work.root.appendingPathComponent("killed")
        let started = Date()
        let uninterrupted = try train(binary, common + ["output_dir=\(whole.path)"])
        uninterrupted.waitUntilExit()
        XCTAssertEqual(uninterrupted.terminationStatus, 0)
        // Kill moments scale with how long a whole run takes here (a quiet machine finishes in well under a second).
        let runMicroseconds = max(20_000, Date().timeIntervalSince(started) * 1e6)

        var rng = SystemRandomNumberGenerator()
        var kills = 0
        for _ in 0..<8 {
            let run = try train(binary, common + ["output_dir=\(killed.path)", "resume=true"])
            usleep(UInt32(Double.random(in: 0.1...0.6, using: &rng) * runMicroseconds))
            guard run.isRunning else { run.waitUntilExit(); break }
            kill(run.processIdentifier, SIGKILL)
            run.waitUntilExit()
            kills += 1
            for checkpoint in try CheckpointStore(directory: killed).checkpoints() {
                let state = try TrainerState.read(from: checkpoint.url)
                XCTAssertEqual(state.step, checkpoint.step)
                XCTAssertEqual(try SafetensorsCheckpoint(directory: checkpoint.url).names.count, TinyRun.parameterCount)
                _ = try SafetensorsFile(url: checkpoint.url.appendingPathComponent(TrainerState.optimizerFileName))
            }
        }
        XCTAssertGreaterThan(kills, 0)
        let last = try train(binary, common + ["output_dir=\(killed.path)", "resume=true"])
        last.waitUntilExit()
        XCTAssertEqual(last.terminationStatus, 0)
        for file in ["model.safetensors", "trainer_state.safetensors"] {
            let a = try Data(contentsOf: whole.appendingPathComponent("step-80/\(file)"))
            let b = try Data(contentsOf: killed.appendingPathComponent("step-80/\(file)"))
            XCTAssertTrue(a == b, "\(file) differs after \(kills) kills")
        }
    }
}
