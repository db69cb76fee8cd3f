import Foundation
import Models
import TestSupport
import Torch
import XCTest

/// A memory model shipped as beacon tensors over a frozen base (the layout of checkpoints/memorag-smollm2-135m).
final class BeaconDeltaTests: XCTestCase {
    static let config = """
        {"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
         "rope_theta": 10000, "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2}
        """

    /// A base dir, a trained beacon model over it, and the delta dir made from it.
    private func layout() throws -> (base: URL, delta: URL, trained: DecoderLM) {
        let root = try temporaryDirectory("beacon-delta")
        try LibTorch.manualSeed(3)
        let config = try JSONDecoder().decode(DecoderConfig.self, from: Data(Self.config.utf8))
        let base = try DecoderLM(config: config)
        let baseDir = root.appendingPathComponent("base")
        try FileManager.default.createDirectory(at: baseDir, withIntermediateDirectories: true)
        try base.hfConfigJSON(dtype: .float32).write(to: baseDir.appendingPathComponent("config.json"))
        let baseWeights = Dictionary(uniqueKeysWithValues: base.parameters().map { ($0.name, $0.tensor) })
        try Safetensors.save(baseWeights, to: baseDir.appendingPathComponent("model.safetensors"))

        // "Training": beacon parameters that differ from their fresh initialisation.
        try base.addBeacon(BeaconSettings(window: 8, ratios: [2, 4]))
        var beacon: [String: Tensor] = [:]
        for (name, tensor) in base.parameters() where name.contains("beacon") {
            beacon[name] = try tensor + Tensor.randn(tensor.shape) * 0.1
        }
        try base.update(parameters: beacon, strict: false)

        let deltaDir = root.appendingPathComponent("delta")
        try FileManager.default.createDirectory(at: deltaDir, withIntermediateDirectories: true)
        try base.hfConfigJSON(dtype: .bfloat16).write(to: deltaDir.appendingPathComponent("config.json"))
        try Safetensors.save(try beacon.mapValues { try $0.to(.bfloat16) }, to: deltaDir.appendingPathComponent("model.safetensors"))
        let manifest: [String: Any] = ["format": BeaconDelta.manifestFormat, "version": 1, "base_model": "base",
                                       "base_path": baseDir.path, "tensors": beacon.keys.sorted()]
        try JSONSerialization.data(withJSONObject: manifest).write(to: deltaDir.appendingPathComponent("manifest.json"))
        return (baseDir, deltaDir, base)
    }

    func testDeltaOverTheBaseGivesTheTrainedModel() throws {
        let (baseDir, deltaDir, trained) = try layout()
        let manifest = try XCTUnwrap(try BeaconDelta.manifest(in: deltaDir))
        XCTAssertEqual(try BeaconDelta.locateBase(manifest, modelsDirectory: baseDir, delta: deltaDir).standardizedFileURL.path,
                       baseDir.standardizedFileURL.path)
        let model = try DecoderLM.load(directory: baseDir)
        try BeaconDelta.apply(to: model, from: deltaDir)
        XCTAssertEqual(model.config.beacon?.window, 8)
        let loaded = Dictionary(uniqueKeysWithValues: model.parameters().map { ($0.name, $0.tensor) })
        for (name, tensor) in trained.parameters() {
            // Beacon tensors went through bf16; the base ones are untouched.
            let want = name.contains("beacon") ? try tensor.to(.bfloat16).to(.float32) : tensor
            XCTAssertEqual(try loaded[name]!.toArray(Float.self), try want.toArray(Float.self), name)
        }
        XCTAssertNil(try BeaconDelta.manifest(in: baseDir))
    }

    /// LoRA factors in a delta (the base's projections tuned without shipping them) are folded into their base
    /// weights on load, `W + alpha/rank · B A`; factors that do not fit the base are refused by name.
    func testLoRAFactorsAreFoldedIntoTheBaseWeights() throws {
        let (baseDir, deltaDir, trained) = try layout()
        let weightsURL = deltaDir.appendingPathComponent("model.safetensors")
        let manifestURL = deltaDir.appendingPathComponent("manifest.json")
        let (beacon, _) = try Safetensors.load(weightsURL)
        let adapters: [String: (a: Tensor, b: Tensor)] = [
            "model.layers.1.self_attn.q_proj": (try Tensor.randn([4, 32]), try Tensor.randn([32, 4])),
            "model.layers.0.mlp.gate_proj": (try Tensor.randn([4, 32]), try Tensor.randn([64, 4])),
        ]
        var factors: [String: Tensor] = [:]
        for (prefix, pair) in adapters {
            factors[prefix + ".lora_A.weight"] = pair.a
            factors[prefix + ".lora_B.weight"] = pair.b
        }
        func write(_ tensors: [String: Tensor], rank: Int?, alpha: Double?) throws {
            try Safetensors.save(tensors, to: weightsURL)
            var manifest = try XCTUnwrap(try BeaconDelta.manifest(in: deltaDir))
            (manifest.tensors, manifest.loraRank, manifest.loraAlpha) = (tensors.keys.sorted(), rank, alpha)
            try JSONEncoder().encode(manifest).write(to: manifestURL)
        }
        func refusal() throws -> String {
            var message = ""
            XCTAssertThrowsError(try BeaconDelta.apply(to: try DecoderLM.load(directory: baseDir), from: deltaDir)) {
                message = $0.localizedDescription
            }
            return message
        }

        try write(beacon.merging(factors) { $1 }, rank: 4, alpha: 8)
        let model = try DecoderLM.load(directory: baseDir)
        try BeaconDelta.apply(to: model, from: deltaDir)
        let loaded = Dictionary(uniqueKeysWithValues: model.parameters().map { ($0.name, $0.tensor) })
        for (name, tensor) in trained.parameters() where !name.contains("beacon") {
            let prefix = String(name.dropLast(".weight".count))
            if let pair = adapters[prefix] {
                assertClose(loaded[name]!, try tensor + pair.b.matmul(pair.a) * 2, atol: 1e-5, rtol: 1e-5, name)
            } else {
                XCTAssertTrue(try loaded[name]!.equals(tensor), "\(name) changed without an adapter")
            }
        }

        try write(beacon.merging(factors) { $1 }, rank: nil, alpha: nil)
        XCTAssertTrue(try refusal().contains("without lora_rank"))
        try write(beacon.merging(factors) { $1 }, rank: 2, alpha: 8)
        let wrongRank = try refusal()
        XCTAssertTrue(wrongRank.contains("gate_proj are [4, 32] and [64, 4]; rank 2 over a [64, 32] weight"), wrongRank)
        var unpaired = beacon.merging(factors) { $1 }
        unpaired.removeValue(forKey: "model.layers.0.mlp.gate_proj.lora_B.weight")
        try write(unpaired, rank: 4, alpha: 8)
        XCTAssertTrue(try refusal().contains("model.layers.0.mlp.gate_proj has lora_A but no lora_B"))
        var elsewhere = beacon
        elsewhere["model.layers.0.mlp.router.lora_A.weight"] = try Tensor.randn([4, 32])
        elsewhere["model.layers.0.mlp.router.lora_B.weight"] = try Tensor.randn([64, 4])
        try write(elsewhere, rank: 4, alpha: 8)
        XCTAssertTrue(try refusal().contains("not a projection of the base"))
    }

    func testAStrayOrMissingTensorOrAnotherBaseIsRefused() throws {
        let (baseDir, deltaDir, _) = try layout()
        let weightsURL = deltaDir.appendingPathComponent("model.safetensors")
        var (weights, _) = try Safetensors.load(weightsURL)
        let some = weights.keys.sorted().first!
        weights.removeValue(forKey: some)
        try Safetensors.save(weights, to: weightsURL)
        XCTAssertThrowsError(try BeaconDelta.apply(to: try DecoderLM.load(directory: baseDir), from: deltaDir)) {
            XCTAssertTrue($0.localizedDescription.contains("lacks \(some)"), $0.localizedDescription)
        }
        weights[some] = try Tensor.zeros([1])
        weights["model.norm.weight"] = try Tensor.ones([32])
        try Safetensors.save(weights, to: weightsURL)
        XCTAssertThrowsError(try BeaconDelta.apply(to: try DecoderLM.load(directory: baseDir), from: deltaDir)) {
            XCTAssertTrue($0.localizedDescription.contains("not a beacon parameter"), $0.localizedDescription)
        }
        // A base file of the wrong size (another quantisation, say) is named as the problem.
        var manifest = try XCTUnwrap(try BeaconDelta.manifest(in: deltaDir))
        manifest.basePath = baseDir.appendingPathComponent("model.safetensors").path
        manifest.baseModel = "model.safetensors"
        manifest.baseSize = 12
        XCTAssertThrowsError(try BeaconDelta.locateBase(manifest, modelsDirectory: baseDir, delta: deltaDir)) {
            XCTAssertTrue($0.localizedDescription.contains("12 bytes"), $0.localizedDescription)
        }
        manifest.basePath = nil
        manifest.baseModel = "not-installed.gguf"
        XCTAssertThrowsError(try BeaconDelta.locateBase(manifest, modelsDirectory: baseDir, delta: deltaDir)) {
            XCTAssertTrue($0.localizedDescription.contains("not installed"), $0.localizedDescription)
        }
    }

    /// A delta's manifest cannot send the loader outside the models cache: `base_model` is a name inside it (no
    /// `..`, no symlink out), and `base_path` is followed only when it names that same base.
    func testTheManifestCannotNameABaseOutsideTheModelsCache() throws {
        let (baseDir, deltaDir, _) = try layout()
        let models = try temporaryDirectory("beacon-delta-models")
        let installed = models.appendingPathComponent("smollm2")
        try FileManager.default.createDirectory(at: installed, withIntermediateDirectories: true)
        var manifest = try XCTUnwrap(try BeaconDelta.manifest(in: deltaDir))
        func refusal() throws -> String {
            var message = ""
            XCTAssertThrowsError(try BeaconDelta.locateBase(manifest, modelsDirectory: models, delta: deltaDir)) {
                message = $0.localizedDescription
            }
            return message
        }
        manifest.basePath = nil
        manifest.baseModel = "../../\(baseDir.lastPathComponent)"
        XCTAssertTrue(try refusal().contains("not a path"))
        manifest.baseModel = "base"
        manifest.basePath = "/etc/passwd"
        XCTAssertTrue(try refusal().contains("base_path \"/etc/passwd\""))
        manifest.basePath = baseDir.path + "/../base"
        XCTAssertTrue(try refusal().contains("without '..'"))
        // A symlink in the cache that leads out of it.
        manifest.basePath = nil
        try FileManager.default.createSymbolicLink(at: installed.appendingPathComponent("base"), withDestinationURL: baseDir)
        XCTAssertTrue(try refusal().contains("symlink"))
        // The base itself, inside the cache, is found.
        try FileManager.default.removeItem(at: installed.appendingPathComponent("base"))
        try FileManager.default.copyItem(at: baseDir, to: installed.appendingPathComponent("base"))
        XCTAssertEqual(try BeaconDelta.locateBase(manifest, modelsDirectory: models, delta: deltaDir).lastPathComponent,
                       "base")
    }
}
