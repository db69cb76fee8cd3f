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
}
