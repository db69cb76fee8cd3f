import Foundation
import Models
import NN
import TestSupport
import Torch
import Training

/// A tiny random Llama model and a learnable token corpus for the trainer tests.
enum TinyRun {
    static let configJSON = """
        {"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
         "rope_theta": 10000, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2}
        """

    /// Tensors of the tiny model: embeddings, lm_head, final norm, and 9 per layer (2 layers).
    static let parameterCount = 21

    /// `tied`: lm_head shares the embedding (as in SmolLM2).
    static func model(seed: UInt64 = 7, tied: Bool = false) throws -> DecoderLM {
        try LibTorch.manualSeed(seed)
        var config = try JSONDecoder().decode(DecoderConfig.self, from: Data(configJSON.utf8))
        config.tieWordEmbeddings = tied
        return try DecoderLM(config: config)
    }

    /// An HF-layout dir (config.json + model.safetensors) holding `model(seed:)`.
    static func writeModel(to directory: URL, seed: UInt64 = 7, tied: Bool = false) throws {
        let model = try model(seed: seed, tied: tied)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try model.hfConfigJSON(dtype: .float32).write(to: directory.appendingPathComponent("config.json"))
        let weights = Dictionary(uniqueKeysWithValues: model.parameters().map { ($0.name, $0.tensor) })
        try Safetensors.save(weights, to: directory.appendingPathComponent("model.safetensors"))
    }

    /// Documents where each token is the previous plus a per-document step (mod 64): learnable from context.
    static func documents(count: Int = 24, length: Int = 40) -> [[Int]] {
        (0..<count).map { d in
            let step = [1, 3, 5, 7][d % 4]
            return (0..<length).map { (d * 11 + $0 * step) % 64 }
        }
    }

    static func writeDocuments(to url: URL, count: Int = 24) throws {
        try JSONEncoder().encode(documents(count: count)).write(to: url)
    }

    /// A directory with a tiny model, training tokens and an output dir, and the tiny-test recipe pointing at them.
    struct Workspace {
        let root: URL
        var modelDir: URL { root.appendingPathComponent("model") }
        var tokens: URL { root.appendingPathComponent("train.json") }
        var output: URL { root.appendingPathComponent("run") }

        init(tied: Bool = false) throws {
            root = try temporaryDirectory("training")
            try TinyRun.writeModel(to: modelDir, tied: tied)
            try TinyRun.writeDocuments(to: tokens)
        }

        var baseOverrides: [String] {
            ["model.path=\(modelDir.path)", "data.train=\(tokens.path)", "output_dir=\(output.path)"]
        }

        /// The tiny-test recipe on the test device (`MEMORAG_TEST_DEVICE`), with the workspace's paths.
        func recipe(_ overrides: [String] = []) throws -> Recipe {
            // A test's overrides may replace the workspace's (e.g. data.train), so they come as a later layer.
            try RecipeLoader.load(file: recipesDirectory.appendingPathComponent("tiny-test.yaml"),
                                  overrides: baseOverrides + ["device=\(try TestDevice.current())"],
                                  laterOverrides: overrides)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    static func parameters(_ module: Module) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: module.parameters().map { ($0.name, $0.tensor) })
    }

    static func metrics(_ run: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }
}
