import Foundation
import Models
import TestSupport
import Torch
import Training
import XCTest

final class TrainerTests: XCTestCase {
    /// Values worked out by hand: peak 1e-3, floor 1e-4, 4 warmup steps, 14 steps in all.
    func testLRScheduleValues() {
        let cosine = LRSchedule(peak: 1e-3, minLR: 1e-4, warmupSteps: 4, totalSteps: 14, decay: .cosine)
        XCTAssertEqual(cosine.rate(at: 0), 2e-4, accuracy: 1e-12)       // 1e-3 · 1/5
        XCTAssertEqual(cosine.rate(at: 3), 8e-4, accuracy: 1e-12)       // 1e-3 · 4/5
        XCTAssertEqual(cosine.rate(at: 4), 1e-3, accuracy: 1e-12)       // peak once warmup is over
        XCTAssertEqual(cosine.rate(at: 6), 9.140576474687264e-4, accuracy: 1e-12)  // 1e-4 + ½(1+cos 0.2π)·9e-4
        XCTAssertEqual(cosine.rate(at: 9), 5.5e-4, accuracy: 1e-12)     // half way: 1e-4 + ½·9e-4
        XCTAssertEqual(cosine.rate(at: 14), 1e-4, accuracy: 1e-12)
        XCTAssertEqual(cosine.rate(at: 20), 1e-4, accuracy: 1e-12)      // stays at the floor
        let linear = LRSchedule(peak: 1e-3, minLR: 1e-4, warmupSteps: 4, totalSteps: 14, decay: .linear)
        XCTAssertEqual(linear.rate(at: 6), 8.2e-4, accuracy: 1e-12)     // 1e-4 + 0.8·9e-4
        XCTAssertEqual(linear.rate(at: 9), 5.5e-4, accuracy: 1e-12)
        XCTAssertEqual(linear.rate(at: 14), 1e-4, accuracy: 1e-12)
        let constant = LRSchedule(peak: 1e-3, minLR: 1e-4, warmupSteps: 0, totalSteps: 14, decay: .constant)
        XCTAssertEqual(constant.rate(at: 0), 1e-3)
        XCTAssertEqual(constant.rate(at: 13), 1e-3)
    }

    func testLossFallsOnATinyDataset() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let trainer = try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=40", "validation.every=20",
                                                                         "data.validation=\(work.tokens.path)"]))
        var losses: [Double] = [], validation: [Double] = []
        try trainer.run { event in
            if case .step(let m) = event { losses.append(m.loss) }
            if case .validation(_, let loss, _) = event { validation.append(loss) }
        }
        XCTAssertEqual(losses.count, 40)
        XCTAssertEqual(losses[0], log(64), accuracy: 0.3, "a random model starts near ln(vocab)")
        XCTAssertLessThan(losses.suffix(5).reduce(0, +) / 5, losses[0] - 0.6, "\(losses)")
        XCTAssertEqual(validation.count, 3, "at the start, at step 20 and at step 40")
        XCTAssertEqual(validation[0], log(64), accuracy: 0.3, "the untrained model's validation loss comes first")
        XCTAssertLessThan(validation[2], validation[1])
        XCTAssertLessThan(validation[1], validation[0])
        // metrics.jsonl: one line per step (log.every=1) plus the validation lines, with the documented fields.
        let lines = try TinyRun.metrics(work.output)
        XCTAssertEqual(lines.filter { $0["loss"] != nil }.count, 40)
        XCTAssertEqual(lines.filter { $0["val_loss"] != nil }.count, 3)
        XCTAssertEqual(Set(lines[1].keys), ["step", "max_steps", "loss", "lr", "tokens_per_s", "input_tokens_per_s", "grad_norm", "elapsed"])
        // The saved recipe.yaml is the resolved recipe.
        XCTAssertEqual(try RecipeLoader.load(file: work.output.appendingPathComponent("recipe.yaml")), trainer.recipe)
    }

    /// bf16 on the CPU is bf16 weights throughout; on CUDA bf16 math under autocast over fp32 master weights, which
    /// are what checkpoints hold.
    func testBF16RunTrainsAndCheckpointsItsMasterWeights() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let trainer = try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=5", "dtype=bf16"]))
        let device = try TestDevice.current()
        XCTAssertEqual(trainer.device, device)
        XCTAssertEqual(trainer.precision, TrainingPrecision.resolve(dtype: .bfloat16, device: device))
        let master = trainer.precision.master
        var losses: [Double] = []
        try trainer.run { if case .step(let m) = $0 { losses.append(m.loss) } }
        XCTAssertEqual(losses.count, 5)
        XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(losses)")
        let step5 = work.output.appendingPathComponent("step-5")
        let file = try SafetensorsFile(url: step5.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(Set(file.entries.values.map(\.dtype)), [master])
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: step5.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(config["torch_dtype"] as? String, master == .bfloat16 ? "bfloat16" : "float32")
    }

    func testFreezingLeavesEveryOtherParameterBitIdentical() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let trainer = try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=3", "trainable.mode=patterns",
                                                                         "trainable.patterns=[*self_attn.q_proj*]"]))
        let before = try TinyRun.parameters(trainer.objective.model).mapValues { try $0.clone() }
        try trainer.run()
        let after = TinyRun.parameters(trainer.objective.model)
        XCTAssertEqual(trainer.optimizer.names, ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight"])
        for (name, value) in before {
            if name.contains("q_proj") {
                XCTAssertFalse(try after[name]!.equals(value), "\(name) should have trained")
            } else {
                XCTAssertTrue(try after[name]!.equals(value), "\(name) changed although frozen")
            }
        }
        // only_beacon on a model without beacon parameters has nothing to train: a clear error, not a no-op run.
        XCTAssertThrowsError(try TrainingSetup.makeTrainer(recipe: work.recipe(["trainable.mode=only_beacon",
                                                                               "output_dir=\(work.root.path)/other"]))) { error in
            guard case .nothingToTrain = error as? TrainingError else { return XCTFail("\(error)") }
        }
    }

    /// Two micro-batches of 2 give the update of one batch of 4 (the loss is a mean over all tokens of the step).
    func testGradientAccumulationMatchesOneLargerBatch() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let big = try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=3", "batch_size=4", "grad_accumulation=1",
                                                                     "output_dir=\(work.root.path)/big"]))
        let small = try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=3", "batch_size=2", "grad_accumulation=2",
                                                                       "output_dir=\(work.root.path)/small"]))
        var bigLosses: [Double] = [], smallLosses: [Double] = []
        try big.run { if case .step(let m) = $0 { bigLosses.append(m.loss) } }
        try small.run { if case .step(let m) = $0 { smallLosses.append(m.loss) } }
        for (a, b) in zip(bigLosses, smallLosses) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        let a = TinyRun.parameters(big.objective.model), b = TinyRun.parameters(small.objective.model)
        for (name, value) in a { assertClose(b[name]!, value, atol: 1e-5, rtol: 1e-4, name) }
        // And the runs did move the weights (the comparison is not between two untouched models).
        let initial = try TinyRun.model()
        XCTAssertFalse(try a["model.norm.weight"]!.equals(TinyRun.parameters(initial)["model.norm.weight"]!))
    }

    func testCheckpointsAreCompleteAndALeftoverTempDirIsIgnored() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=10"])).run()
        let store = try CheckpointStore(directory: work.output)
        XCTAssertEqual(store.checkpoints().map(\.step), [5, 10])
        XCTAssertEqual(try String(contentsOf: work.output.appendingPathComponent("latest"), encoding: .utf8), "step-10\n")
        let step10 = work.output.appendingPathComponent("step-10")
        let files = try FileManager.default.contentsOfDirectory(atPath: step10.path).sorted()
        XCTAssertEqual(files, ["config.json", "model.safetensors", "trainer_state.json", "trainer_state.safetensors"])
        let state = try TrainerState.read(from: step10)
        XCTAssertEqual(state.step, 10)
        XCTAssertEqual(state.recipe.maxSteps, 10)

        // A checkpoint being written when the process died: newer step number, incomplete contents.
        let partial = work.output.appendingPathComponent(".tmp-step-15-99999")
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        try Data("garbage".utf8).write(to: partial.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(store.newest()?.step, 10, "a temporary dir is never a checkpoint")

        // Without resume=true an existing run is not overwritten.
        XCTAssertThrowsError(try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=12"])).run()) { error in
            XCTAssertEqual(error as? TrainingError, .outputExists(path: work.output.path))
        }
        var resumedFrom: (Int, [String])?
        try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=12", "resume=true"])).run { event in
            if case .resumed(let step, _, let removed) = event { resumedFrom = (step, removed) }
        }
        XCTAssertEqual(resumedFrom?.0, 10)
        XCTAssertEqual(resumedFrom?.1, [".tmp-step-15-99999"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial.path))
        XCTAssertEqual(store.checkpoints().map(\.step), [10, 12], "keep_last=2")
        XCTAssertEqual(try TrainerState.read(from: work.output.appendingPathComponent("step-12")).step, 12)
        // metrics.jsonl holds each step once.
        XCTAssertEqual(try TinyRun.metrics(work.output).compactMap { $0["step"] as? Int }, Array(1...12))
    }

    func testInMemorySourceRestoresItsCursor() throws {
        let source = try InMemoryTokenSource(documents: TinyRun.documents(), length: 16, batchSize: 4, seed: 3)
        for _ in 0..<17 { _ = try source.next() }   // 960 tokens = 60 windows = 15 batches per epoch: now in epoch 1
        let cursor = source.cursor
        XCTAssertEqual(cursor, DataCursor(["epoch": 1, "index": 8]))
        let expected = try (0..<4).map { _ in try source.next().inputIds.toArray(Int64.self) }
        let other = try InMemoryTokenSource(documents: TinyRun.documents(), length: 16, batchSize: 4, seed: 3)
        try other.restore(cursor)
        XCTAssertEqual(try (0..<4).map { _ in try other.next().inputIds.toArray(Int64.self) }, expected)
        XCTAssertThrowsError(try other.restore(DataCursor(["epoch": 0])))
        XCTAssertThrowsError(try InMemoryTokenSource(documents: [[1, 2, 3]], length: 16, batchSize: 1, seed: 0))
    }
    /// Objectives and data sources plug in through `TrainingSetup`'s factories (the defaults are the stage's own:
    /// BeaconTrainingTests covers those).
    func testObjectiveAndDataPlugInThroughFactories() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        var objectiveCalls = 0, opened: [String] = []
        let trainer = try TrainingSetup.makeTrainer(
            recipe: work.recipe(["stage=beacon-pretrain", "max_steps=2", "data.train=store.h5", "data.validation=val.h5"]),
            objective: { recipe, source in
                objectiveCalls += 1
                XCTAssertEqual(recipe.stage, .beaconPretrain)
                return CausalLMObjective(decoder: source.decoder)
            },
            data: { path, recipe, seed in
                opened.append(path)
                return try InMemoryTokenSource(documents: TinyRun.documents(), length: recipe.data.maxLength,
                                               batchSize: recipe.batchSize, seed: seed)
            })
        try trainer.run()
        XCTAssertEqual(objectiveCalls, 1)
        XCTAssertEqual(opened, ["store.h5", "val.h5"])
        XCTAssertEqual(trainer.step, 2)
    }
}
