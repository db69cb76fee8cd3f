import Foundation
import TestSupport
import Torch
import Training
import XCTest

/// The repository's recipes/ directory (tests run from a checkout).
let recipesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("recipes")

final class RecipeTests: XCTestCase {
    let tiny = recipesDirectory.appendingPathComponent("tiny-test.yaml")

    func testEveryShippedRecipeParsesAndOpensWithItsLaunchCommand() throws {
        let entries = try RecipeCatalog(directory: recipesDirectory).entries()
        XCTAssertEqual(Set(entries.map(\.name)), ["adapt", "beacon-pretrain", "clue-feedback", "reader", "sft", "tiny-test"])
        for entry in entries where entry.name != "adapt" {
            XCTAssertTrue(entry.description.contains("memorag train recipes/\(entry.name).yaml"), entry.description)
            XCTAssertNoThrow(try RecipeLoader.load(file: entry.url), entry.name)
        }
        // adapt.yaml is `memorag adapt`'s config, read with the same loader against its own schema.
        let adapt = try XCTUnwrap(entries.first { $0.name == "adapt" })
        XCTAssertTrue(adapt.description.contains("memorag adapt DIR"), adapt.description)
        let config = try AdaptationConfig.load(file: adapt.url)
        XCTAssertEqual(config.pretrain.recipe, "beacon-pretrain.yaml")
        XCTAssertNil(config.model?.path)
        // Its overrides are typed and checked like a recipe's.
        let tuned = try AdaptationConfig.load(file: adapt.url, overrides: ["pretrain.max_steps=7", "eval.ratios=[8]",
                                                                          "model.path=/m", "~threads"])
        XCTAssertEqual(tuned.pretrain.maxSteps, 7)
        XCTAssertEqual(tuned.eval.ratios, [8])
        XCTAssertEqual(tuned.model?.path, "/m")
        XCTAssertEqual(try RecipeLoader.decode(yaml: try tuned.yaml(), source: "saved", schema: AdaptationConfig.schema),
                       tuned, "the saved config reads back")
        XCTAssertThrowsError(try AdaptationConfig.load(file: adapt.url, overrides: ["pretrain.max_step=3"])) { error in
            guard case .unknownKey(_, _, let nearby) = error as? RecipeError else { return XCTFail("\(error)") }
            XCTAssertEqual(nearby.first, "pretrain.max_steps")
        }
        XCTAssertThrowsError(try AdaptationConfig.load(file: adapt.url, overrides: ["split.held_out_fraction=1.5"])) { error in
            XCTAssertEqual(error as? RecipeError, .invalidValue(key: "split.held_out_fraction", reason: "must lie in (0, 1)"))
        }
        let pretrain = try RecipeLoader.load(file: recipesDirectory.appendingPathComponent("beacon-pretrain.yaml"))
        XCTAssertEqual(pretrain.stage, .beaconPretrain)
        XCTAssertEqual(pretrain.trainable.mode, .onlyBeacon)
        XCTAssertEqual(pretrain.data.ratios, [2, 4, 8, 16, 32])
        XCTAssertNil(pretrain.threads)
    }

    func testNestedTypedOverrides() throws {
        let recipe = try RecipeLoader.load(file: tiny, overrides: [
            "optimizer.lr=3e-4", "optimizer.betas=[0.8,0.9]", "max_steps=7", "resume=true", "data.ratios=2,4,8",
            "schedule.decay=linear", "model.path=/tmp/1.0", "trainable.mode=patterns", "trainable.patterns=[*q_proj*]",
            "clip_grad_norm=2",
        ])
        XCTAssertEqual(recipe.optimizer.lr, 3e-4)
        XCTAssertEqual(recipe.optimizer.betas, [0.8, 0.9])
        XCTAssertEqual(recipe.maxSteps, 7)
        XCTAssertTrue(recipe.resume)
        XCTAssertEqual(recipe.data.ratios, [2, 4, 8])
        XCTAssertEqual(recipe.schedule.decay, .linear)
        XCTAssertEqual(recipe.model.path, "/tmp/1.0", "string keys keep the text verbatim")
        XCTAssertEqual(recipe.trainable.patterns, ["*q_proj*"])
        XCTAssertEqual(recipe.clipGradNorm, 2.0, "an int is a valid float")
        // Untouched keys keep the file's values.
        XCTAssertEqual(recipe.optimizer.weightDecay, 0.1)
        XCTAssertEqual(recipe.checkpoint.keepLast, 2)
    }

    func testUnknownKeysAreRejectedWithTheValidOnesNearby() throws {
        XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["optimizer.learning_rate=1e-3"])) { error in
            guard case .unknownKey(let key, _, let nearby) = error as? RecipeError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "optimizer.learning_rate")
            XCTAssertTrue(nearby.contains("optimizer.lr"), "\(nearby)")
            XCTAssertTrue(error.localizedDescription.contains("optimizer.weight_decay"), error.localizedDescription)
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["max_step=3"])) { error in
            guard case .unknownKey(_, _, let nearby) = error as? RecipeError else { return XCTFail("\(error)") }
            XCTAssertEqual(nearby.first, "max_steps")
        }
        // Unknown keys inside the file itself, reported with the file's path.
        let text = try String(contentsOf: tiny, encoding: .utf8).replacingOccurrences(of: "  lr: 3e-3", with: "  lrate: 3e-3")
        XCTAssertThrowsError(try RecipeLoader.resolve(yaml: text, source: "edited.yaml")) { error in
            XCTAssertTrue(error.localizedDescription.hasPrefix("edited.yaml: unknown key 'optimizer.lrate'"), error.localizedDescription)
        }
    }

    func testDeletingOptionalKeys() throws {
        // A later layer of overrides deletes what an earlier one set (one layer names each key once).
        let recipe = try RecipeLoader.load(file: tiny, overrides: ["~clip_grad_norm", "~threads", "data.validation=v.json"],
                                           laterOverrides: ["~data.validation"])
        XCTAssertNil(recipe.clipGradNorm)
        XCTAssertNil(recipe.threads)
        XCTAssertNil(recipe.data.validation)
        XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["~optimizer.lr"])) { error in
            XCTAssertEqual(error as? RecipeError, .notDeletable(key: "optimizer.lr"))
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["~optimizer.nope"])) { error in
            guard case .unknownKey = error as? RecipeError else { return XCTFail("\(error)") }
        }
    }

    /// `dtype: auto` becomes this machine's choice, and a resumed run keeps the dtype its checkpoints were saved in.
    func testAutoDTypeIsChosenOnceAndKeptOnResume() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var recipe = try RecipeLoader.load(file: tiny, overrides: ["dtype=auto", "output_dir=\(dir.path)"])
        let expected = try ComputeDType.choose() == .bfloat16 ? "bf16" : "fp32"
        XCTAssertEqual(try TrainingSetup.concreteDType(recipe), expected)
        var saved = recipe
        saved.dtype = expected == "bf16" ? "fp32" : "bf16"  // what another machine chose when the run started
        try Data(try RecipeLoader.yaml(saved).utf8).write(to: dir.appendingPathComponent("recipe.yaml"))
        recipe.resume = true
        XCTAssertEqual(try TrainingSetup.concreteDType(recipe), saved.dtype)
        recipe.resume = false
        XCTAssertEqual(try TrainingSetup.concreteDType(recipe), expected)
    }

    func testBadValuesNameTheKeyAndTheExpectedType() throws {
        let cases: [(String, String)] = [
            ("max_steps=ten", "'max_steps' must be int, got 'ten'"),
            ("max_steps=2.5", "'max_steps' must be int"),
            ("optimizer.lr=fast", "'optimizer.lr' must be float"),
            ("resume=maybe", "'resume' must be bool"),
            ("dtype=fp16", "'dtype' must be one of fp32 | bf16 | auto"),
            ("data.ratios=[2,x]", "'data.ratios' must be list of int"),
            ("stage=pretrain", "'stage' must be one of beacon-pretrain | sft | lm | clue-feedback"),
        ]
        for (override, message) in cases {
            XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: [override]), override) { error in
                XCTAssertTrue(error.localizedDescription.contains(message), "\(override): \(error.localizedDescription)")
            }
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["max_steps"])) { error in
            XCTAssertEqual(error as? RecipeError, .malformedOverride("max_steps"))
        }
        // Well typed but inconsistent values fail validation, naming the key.
        XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["max_steps=0"])) { error in
            XCTAssertEqual(error as? RecipeError, .invalidValue(key: "max_steps", reason: "must be positive"))
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["optimizer.betas=[0.9]"])) { error in
            guard case .invalidValue(let key, _) = error as? RecipeError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "optimizer.betas")
        }
        // A missing required key and a broken file.
        let text = try String(contentsOf: tiny, encoding: .utf8).replacingOccurrences(of: "max_steps: 20\n", with: "")
        XCTAssertThrowsError(try RecipeLoader.resolve(yaml: text, source: "short.yaml")) { error in
            XCTAssertEqual(error as? RecipeError, .missingKey(key: "max_steps", source: "short.yaml"))
        }
        XCTAssertThrowsError(try RecipeLoader.resolve(yaml: "a: [1, 2", source: "broken.yaml")) { error in
            XCTAssertTrue(error.localizedDescription.hasPrefix("broken.yaml: not valid YAML"), error.localizedDescription)
        }
    }

    /// The resolved recipe printed/saved as YAML reads back to the same recipe, and lists every schema key.
    func testResolvedRecipeRoundTripsAndMatchesTheSchema() throws {
        let recipe = try RecipeLoader.load(file: tiny, overrides: ["data.ratios=[2,4]", "data.ratio_mix=step-random",
                                                                    "data.validation=v.json", "trainable.patterns=[a]",
                                                                    "trainable.lora_modules=[q_proj]", "trainable.lora_rank=2",
                                                                    "trainable.lora_alpha=4", "distributed.backend=gloo",
                                                                    "distributed.timeout_s=60", "distributed.bucket_mb=10",
                                                                    "device=cpu",
                                                                    "stage=clue-feedback", "feedback.retriever=r",
                                                                    "feedback.prompts=p.json", "feedback.samples=2",
                                                                    "feedback.questions_per_round=7"])
        let yaml = try RecipeLoader.yaml(recipe)
        XCTAssertEqual(try RecipeLoader.resolve(yaml: yaml, source: "resolved"), recipe)
        // With every optional key present, the encoded keys are exactly the schema's paths.
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(recipe)) as! [String: Any]
        var paths: Set<String> = []
        for (key, value) in json {
            if let section = value as? [String: Any] { paths.formUnion(section.keys.map { "\(key).\($0)" }) } else { paths.insert(key) }
        }
        XCTAssertEqual(paths, Set(RecipeSchema.fields.map(\.path)))
    }

    /// recipes/clue-feedback.yaml: its section's defaults, typed overrides, and bad values named by key.
    func testClueFeedbackSettings() throws {
        let file = recipesDirectory.appendingPathComponent("clue-feedback.yaml")
        let recipe = try RecipeLoader.load(file: file)
        XCTAssertEqual(recipe.stage, .clueFeedback)
        var expected = Recipe.Feedback()
        expected.rounds = 2
        expected.questionsPerRound = 48
        XCTAssertEqual(recipe.feedback, expected, "the file spells out the defaults, plus rounds and questions per round")
        XCTAssertEqual([expected.samples, expected.depth, expected.topK], [4, 3, 5])
        XCTAssertEqual(expected.clueTask, .rewrite)
        XCTAssertEqual(expected.queryWeight, 3)
        // Absent keys take the defaults; an absent section too.
        let bare = try RecipeLoader.load(file: file, overrides: ["~feedback.samples", "~feedback.rounds", "~feedback.top_k"])
        XCTAssertEqual(bare.feedback?.samples, 4)
        XCTAssertEqual(bare.feedback?.rounds, 1)
        let tuned = try RecipeLoader.load(file: file, overrides: ["feedback.samples=8", "feedback.clue_task=recall",
                                                                  "feedback.min_gain=0.1", "max_steps=30", "feedback.rounds=3",
                                                                  "feedback.method=dpo", "feedback.beta=0.25"])
        XCTAssertEqual(tuned.feedback?.method, .dpo)
        XCTAssertEqual(tuned.feedback?.beta, 0.25)
        XCTAssertEqual(tuned.feedback?.samples, 8)
        XCTAssertEqual(tuned.feedback?.clueTask, .recall)
        XCTAssertEqual(tuned.feedback?.minGain, 0.1)
        XCTAssertEqual(try RecipeLoader.resolve(yaml: try RecipeLoader.yaml(tuned), source: "saved"), tuned)

        let invalid: [(String, String)] = [
            ("feedback.samples=0", "feedback.samples"), ("feedback.temperature=0", "feedback.temperature"),
            ("feedback.top_p=1.5", "feedback.top_p"), ("feedback.min_gain=1", "feedback.min_gain"),
            ("feedback.top_k=0", "feedback.top_k"), ("feedback.rounds=3", "feedback.rounds"),
            ("feedback.questions_per_round=0", "feedback.questions_per_round"), ("feedback.beta=0", "feedback.beta"),
        ]
        for (override, key) in invalid {
            XCTAssertThrowsError(try RecipeLoader.load(file: file, overrides: [override]), override) { error in
                guard case .invalidValue(let named, let reason) = error as? RecipeError else { return XCTFail("\(error)") }
                XCTAssertEqual(named, key, reason)
            }
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: file, overrides: ["feedback.method=ppo"])) {
            XCTAssertTrue("\($0)".contains("one of rejection-sampling | dpo"), "\($0)")
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: file, overrides: ["feedback.method=dpo", "feedback.samples=1"])) {
            XCTAssertTrue($0.localizedDescription.contains("at least 2 with method dpo"), $0.localizedDescription)
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: file, overrides: ["feedback.rounds=3"])) { error in
            XCTAssertTrue(error.localizedDescription.contains("max_steps (40) must be a multiple of the rounds (3)"),
                          error.localizedDescription)
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: file, overrides: ["feedback.clue_task=summarize"])) { error in
            XCTAssertTrue(error.localizedDescription.contains("'feedback.clue_task' must be one of rewrite | recall | answer"),
                          error.localizedDescription)
        }
        XCTAssertThrowsError(try RecipeLoader.load(file: file, overrides: ["feedback.sample=3"])) { error in
            guard case .unknownKey(_, _, let nearby) = error as? RecipeError else { return XCTFail("\(error)") }
            XCTAssertEqual(nearby.first, "feedback.samples")
        }
        // The section belongs to its stage.
        XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["feedback.samples=2"])) { error in
            guard case .invalidValue(let key, let reason) = error as? RecipeError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "feedback")
            XCTAssertTrue(reason.contains("stage clue-feedback, not of stage lm"), reason)
        }
    }

    func testCatalogCopiesARecipeWithoutOverwriting() throws {
        let dir = try temporaryDirectory("recipes-copy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let catalog = RecipeCatalog(directory: recipesDirectory)
        let copied = try catalog.copy("sft", to: dir)
        XCTAssertEqual(copied.lastPathComponent, "sft.yaml")
        XCTAssertEqual(try Data(contentsOf: copied), try Data(contentsOf: recipesDirectory.appendingPathComponent("sft.yaml")))
        XCTAssertThrowsError(try catalog.copy("sft", to: dir))
        XCTAssertThrowsError(try catalog.copy("nope", to: dir)) { error in
            XCTAssertTrue(error.localizedDescription.contains("tiny-test"), error.localizedDescription)
        }
    }
}

/// The recipe's `device` key: parsed and checked, written back, and kept by a resumed run.
final class RecipeDeviceTests: XCTestCase {
    let tiny = recipesDirectory.appendingPathComponent("tiny-test.yaml")

    func testDeviceKeyParsesRoundTripsAndDefaultsToAuto() throws {
        let plain = try RecipeLoader.load(file: tiny)
        XCTAssertNil(plain.device)
        XCTAssertEqual(try TrainingSetup.deviceChoice(plain), .auto)
        for value in ["auto", "cpu", "cuda", "cuda:1"] {
            let recipe = try RecipeLoader.load(file: tiny, overrides: ["device=\(value)"])
            XCTAssertEqual(recipe.device, value)
            XCTAssertEqual(try TrainingSetup.deviceChoice(recipe), try DeviceChoice(parsing: value))
            let yaml = try RecipeLoader.yaml(recipe)
            XCTAssertTrue(yaml.contains("device: \"\(value)\""), yaml)
            XCTAssertEqual(try RecipeLoader.decode(yaml: yaml, source: "saved", schema: RecipeSchema.schema), recipe)
        }
    }

    func testBadDeviceValuesAreRejectedByName() throws {
        for bad in ["cuda:x", "gpu", "cuda:-1"] {
            XCTAssertThrowsError(try RecipeLoader.load(file: tiny, overrides: ["device=\(bad)"]), bad) { error in
                guard case .invalidValue(let key, let reason) = error as? RecipeError else { return XCTFail("\(error)") }
                XCTAssertEqual(key, "device")
                XCTAssertTrue(reason.contains("must be auto, cpu, cuda or cuda:N") && reason.contains("'\(bad)'"), reason)
            }
        }
    }

    func testAResumedRunWithoutADeviceKeepsItsSavedRecipesDevice() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var saved = try RecipeLoader.load(file: tiny, overrides: ["output_dir=\(dir.path)"])
        saved.device = "cuda:1"
        try Data(try RecipeLoader.yaml(saved).utf8).write(to: dir.appendingPathComponent("recipe.yaml"))
        var recipe = try RecipeLoader.load(file: tiny, overrides: ["output_dir=\(dir.path)", "resume=true"])
        XCTAssertEqual(try TrainingSetup.deviceChoice(recipe), .device(.cuda(1)))
        recipe.device = "cpu"  // an explicit choice (recipe key or --device) wins
        XCTAssertEqual(try TrainingSetup.deviceChoice(recipe), .device(.cpu))
        recipe.device = nil
        recipe.resume = false
        XCTAssertEqual(try TrainingSetup.deviceChoice(recipe), .auto)
    }

    /// A recipe naming a GPU this libtorch cannot serve fails before anything is loaded, naming the key and why.
    func testAnUnusableDeviceIsAClearErrorAtSetup() throws {
        let status = CUDA.status
        let recipe = try RecipeLoader.load(file: tiny, overrides: ["device=cuda:\(status.deviceCount)"])
        XCTAssertThrowsError(try TrainingSetup.makeTrainer(recipe: recipe)) { error in
            guard case .invalidValue(let key, let reason) = error as? RecipeError else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "device")
            if status.deviceCount == 0 { XCTAssertTrue(reason.contains(status.problem), reason) }
        }
    }
}
