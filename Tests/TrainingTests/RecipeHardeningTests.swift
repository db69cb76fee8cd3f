import Foundation
import Models
import TestSupport
@testable import Training
import XCTest

/// Hostile recipes and overrides (issue 22): each is refused at load, naming the key or the problem, before anything
/// is written or allocated.
final class RecipeHardeningTests: XCTestCase {
    let tiny = recipesDirectory.appendingPathComponent("tiny-test.yaml")
    var tinyText: String { get throws { try String(contentsOf: tiny, encoding: .utf8) } }

    private func assertRefused(_ body: @autoclosure () throws -> Recipe, containing fragments: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let message = error.localizedDescription
            for fragment in fragments {
                XCTAssertTrue(message.contains(fragment), "'\(fragment)' not in: \(message)", file: file, line: line)
            }
        }
    }

    /// `seed=-1` trapped converting to UInt64 once training started (after recipe.yaml was written).
    func testNegativeSeedIsRefusedAtLoad() throws {
        assertRefused(try RecipeLoader.load(file: tiny, overrides: ["seed=-1"]), containing: ["'seed'", "negative"])
    }

    /// `memorag adapt … seed=-1` reached the same trap only after preparing data and writing clues.
    func testNegativeAdaptationSeedIsRefusedAtLoad() throws {
        XCTAssertThrowsError(try AdaptationConfig.load(file: recipesDirectory.appendingPathComponent("adapt.yaml"),
                                                       overrides: ["seed=-1"])) { error in
            XCTAssertTrue(error.localizedDescription.contains("'seed': must not be negative"), error.localizedDescription)
        }
    }

    /// 100,000 levels of nesting overflowed the stack inside Yams (a segfault).
    func testDeepNestingIsRefusedBeforeParsing() throws {
        let deep = try tinyText + "extra: " + String(repeating: "[", count: 100_000) + "\n"
        assertRefused(try RecipeLoader.resolve(yaml: deep, source: "deep.yaml"), containing: ["deep.yaml", "levels deep"])
        let blocks = (0..<300).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n")
        assertRefused(try RecipeLoader.resolve(yaml: blocks, source: "indented.yaml"),
                      containing: ["indented.yaml", "levels deep"])
        let dashes = "seed: 1\nx:\n" + String(repeating: "- ", count: 5000) + "1\n"
        assertRefused(try RecipeLoader.resolve(yaml: dashes, source: "dashes.yaml"), containing: ["dashes.yaml", "levels deep"])
        // The shipped recipes are far inside the bound.
        XCTAssertNoThrow(try RecipeLoader.load(file: tiny))
    }

    /// Aliases expand to copies of their anchors: six levels of ten are a million values before any key is checked.
    func testAliasBombIsRefusedBeforeItExpands() throws {
        var lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
        for level in 1...6 {
            let previous = "*a\(level - 1)"
            lines.append("a\(level): &a\(level) [" + Array(repeating: previous, count: 10).joined(separator: ", ") + "]")
        }
        // The anchors sit in a top-level key of their own; the bomb fires wherever it would be expanded.
        let text = lines.joined(separator: "\n") + "\n" + (try tinyText)
        let start = Date()
        assertRefused(try RecipeLoader.resolve(yaml: text, source: "bomb.yaml"), containing: ["bomb.yaml", "expands to more than"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "refused before expanding")
        // A few aliases are fine YAML and read as their anchors.
        let reused = (try tinyText).replacingOccurrences(of: "min_length: 16\n  max_length: 16",
                                                         with: "min_length: &n 16\n  max_length: *n")
        XCTAssertEqual(try RecipeLoader.resolve(yaml: reused, source: "reused.yaml").data.maxLength, 16)
    }

    /// A key given twice used to keep one of the values silently.
    func testDuplicateKeysAreRefusedNamingKeyAndLine() throws {
        let text = try tinyText.replacingOccurrences(of: "seed: 1234\n", with: "seed: 1234\nseed: 99\n")
        let line = text.components(separatedBy: "\n").firstIndex(of: "seed: 99")! + 1
        assertRefused(try RecipeLoader.resolve(yaml: text, source: "twice.yaml"),
                      containing: ["twice.yaml:\(line)", "'seed'", "twice"])
        let nested = try tinyText.replacingOccurrences(of: "  lr: 3e-3\n", with: "  lr: 3e-3\n  lr: 1e-3\n")
        assertRefused(try RecipeLoader.resolve(yaml: nested, source: "nested.yaml"), containing: ["nested.yaml:", "'lr'"])
        assertRefused(try RecipeLoader.load(file: tiny, overrides: ["seed=1", "max_steps=3", "seed=2"]),
                      containing: ["'seed'", "seed=2", "twice"])
        assertRefused(try RecipeLoader.load(file: tiny, overrides: ["~clip_grad_norm", "clip_grad_norm=2"]),
                      containing: ["'clip_grad_norm'"])
    }

    /// A caller's generated overrides and then the user's may set the same key (the adaptation's stage recipes).
    func testLaterOverridesMaySetAKeyAgain() throws {
        let recipe = try RecipeLoader.load(file: tiny, overrides: ["max_steps=3"], laterOverrides: ["max_steps=7"])
        XCTAssertEqual(recipe.maxSteps, 7)
    }

    /// `batch_size=100000000` allocated without bound before any check.
    func testSizesBeyondSaneBoundsAreRefused() throws {
        assertRefused(try RecipeLoader.load(file: tiny, overrides: ["batch_size=100000000"]),
                      containing: ["'batch_size'", "100000000", "micro-batch"])
        assertRefused(try RecipeLoader.load(file: tiny, overrides: ["threads=1000000000"]), containing: ["'threads'"])
        assertRefused(try RecipeLoader.load(file: tiny, overrides: ["data.ratios=[0,4]"]), containing: ["'data.ratios'"])
        assertRefused(try RecipeLoader.load(file: tiny, overrides: [
            "trainable.mode=lora", "trainable.lora_modules=[q_proj]", "trainable.lora_rank=1000000000",
            "trainable.lora_alpha=16",
        ]), containing: ["'trainable.lora_rank'"])
        let infinite = try tinyText.replacingOccurrences(of: "lr: 3e-3", with: "lr: .inf")
        assertRefused(try RecipeLoader.resolve(yaml: infinite, source: "inf.yaml"), containing: ["inf.yaml", "'optimizer.lr'"])
    }

    /// A micro-batch whose activations cannot fit in this machine is refused before the data is read.
    func testMicroBatchLargerThanMemoryIsRefused() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        var config = try JSONSerialization.jsonObject(with: Data(TinyRun.configJSON.utf8)) as! [String: Any]
        // Activations scale with layers × width; the weights of this config are never made.
        config["num_hidden_layers"] = 64
        config["intermediate_size"] = 1 << 14
        // About 13 MB of activations per token: a million tokens are 13 TB, the tiny recipe's 64 under 1 GB.
        let recipe = try work.recipe(["batch_size=1024", "data.max_length=1024", "data.min_length=16"])
        XCTAssertThrowsError(try TrainingSetup.checkMemory(recipe, decoderConfig(config))) { error in
            XCTAssertTrue(error.localizedDescription.contains("'batch_size'"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("GB"), error.localizedDescription)
        }
        XCTAssertNoThrow(try TrainingSetup.checkMemory(try work.recipe(), decoderConfig(config)))
    }

    private func decoderConfig(_ object: [String: Any]) throws -> DecoderConfig {
        try JSONDecoder().decode(DecoderConfig.self, from: JSONSerialization.data(withJSONObject: object))
    }
}
