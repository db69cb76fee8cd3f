import Foundation
import TestSupport
import Torch
import Training
import XCTest

/// What a damaged or interrupted run dir leaves behind does not block a resume (issue 22).
final class CheckpointRecoveryTests: XCTestCase {
    /// An empty `step-N/` newer than the last complete checkpoint used to stop `resume=true` ("trainer_state.json:
    /// missing or unreadable"); it is skipped, named with what it lacks, and the run resumes from the complete one.
    func testResumeSkipsAnIncompleteCheckpointDir() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=5"])).run()
        let empty = work.output.appendingPathComponent("step-8")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let store = try CheckpointStore(directory: work.output)
        XCTAssertEqual(store.newest()?.step, 5, "an empty dir is not a checkpoint")
        XCTAssertEqual(store.incomplete().map(\.name), ["step-8"])

        var skipped: [String] = []
        var resumedAt: Int?
        try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=7", "resume=true"])).run { event in
            if case .skippedCheckpoint(let name, let reason) = event { skipped.append("\(name): \(reason)") }
            if case .resumed(let step, _, _) = event { resumedAt = step }
        }
        XCTAssertEqual(resumedAt, 5)
        XCTAssertEqual(skipped.count, 1)
        XCTAssertTrue(skipped.first?.hasPrefix("step-8: no config.json") == true, "\(skipped)")
        XCTAssertEqual(try TrainerState.read(from: work.output.appendingPathComponent("step-7")).step, 7)
        // Without resume, a dir holding any step-N (even an incomplete one) is not overwritten.
        XCTAssertThrowsError(try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=9"])).run())
    }

    /// `.latest.tmp-PID` (and other atomic-write temporaries) left by a killed process are removed when a run starts
    /// or resumes; one whose process still runs is left alone.
    func testStaleTemporaryFilesAreRemovedAtResume() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=5"])).run()
        // A PID that cannot be running (above the kernel's pid_max) and a running one (our parent's; not our own,
        // which the trainer in this process reuses for its own writes).
        let dead = ".latest.tmp-\(Int32.max)", live = ".latest.tmp-\(getppid())"
        let deadRecipe = ".recipe.yaml.tmp-\(Int32.max)"
        for name in [dead, live, deadRecipe] {
            try Data("step-3\n".utf8).write(to: work.output.appendingPathComponent(name))
        }
        var removed: [String] = []
        try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=6", "resume=true"])).run { event in
            if case .resumed(_, _, let leftovers) = event { removed = leftovers }
        }
        XCTAssertEqual(removed, [dead, deadRecipe].sorted())
        let names = try FileManager.default.contentsOfDirectory(atPath: work.output.path)
        XCTAssertFalse(names.contains(dead))
        XCTAssertFalse(names.contains(deadRecipe))
        XCTAssertTrue(names.contains(live), "a live writer's file stays")
    }
}
