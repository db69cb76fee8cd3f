import Foundation
import Models
import NN
import Torch

/// `memorag export`: a checkpoint (`RUN/step-N`) to a Hugging Face directory — config.json, model.safetensors,
/// tokenizer files, generation_config.json — optionally cast to another dtype, or with `beaconOnly` just the tensors
/// whose names contain `beacon` (the shipped delta over a frozen base) plus config.json and a `manifest.json` naming
/// the base model.
public enum ModelExport {
    public struct Report: Sendable {
        public var tensors: Int
        public var bytes: Int
        public var files: [String]
    }

    public static let manifestFormat = "memorag.beacon-delta"

    @discardableResult
    public static func export(checkpoint: URL, to out: URL, dtype: DType? = nil, beaconOnly: Bool = false) throws -> Report {
        let fm = FileManager.default
        let configURL = checkpoint.appendingPathComponent("config.json")
        guard let configData = fm.contents(atPath: configURL.path),
              var config = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any]
        else { throw TrainingError.checkpoint(path: configURL.path, reason: "missing or not a JSON object (is this a step-N dir?)") }
        if let dtype, !dtype.isFloatingPoint { throw TrainingError.unsupported("export needs a floating dtype, got \(dtype)") }

        var weights = try mergingLoRA(SafetensorsCheckpoint(directory: checkpoint).tensors(), checkpoint: checkpoint)
        if beaconOnly {
            weights = weights.filter { $0.key.contains("beacon") }
            guard !weights.isEmpty else {
                throw TrainingError.nothingToTrain("\(checkpoint.path) has no tensor whose name contains 'beacon'")
            }
        }
        if let dtype {
            weights = try weights.mapValues { $0.dtype == dtype ? $0 : try $0.to(dtype) }
            config["torch_dtype"] = dtype == .bfloat16 ? "bfloat16" : dtype == .float16 ? "float16" : "float32"
        }

        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        var files: [String] = []
        try Safetensors.save(weights, metadata: ["format": "pt"], to: out.appendingPathComponent("model.safetensors"))
        files.append("model.safetensors")
        try DurableFile.write(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]),
                              to: out.appendingPathComponent("config.json"))
        files.append("config.json")
        for name in ModelSource.companionFiles where fm.fileExists(atPath: checkpoint.appendingPathComponent(name).path) {
            let target = out.appendingPathComponent(name)
            if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
            try fm.copyItem(at: checkpoint.appendingPathComponent(name), to: target)
            files.append(name)
        }
        if beaconOnly {
            try DurableFile.write(try manifest(checkpoint: checkpoint, tensors: weights.keys.sorted()),
                                  to: out.appendingPathComponent("manifest.json"))
            files.append("manifest.json")
        }
        let bytes = try weights.values.reduce(0) { $0 + (try $1.bytes().count) }
        return Report(tensors: weights.count, bytes: bytes, files: files)
    }

    /// Folds LoRA adapters (`X.lora_A.weight`, `X.lora_B.weight`) into `X.weight` with the scale alpha/rank of the
    /// checkpoint's recipe, so the export is a plain model.
    static func mergingLoRA(_ weights: [String: Tensor], checkpoint: URL) throws -> [String: Tensor] {
        let prefixes = weights.keys.filter { $0.hasSuffix(".lora_A.weight") }.map { String($0.dropLast(".lora_A.weight".count)) }
        guard !prefixes.isEmpty else { return weights }
        let trainable = try TrainerState.read(from: checkpoint).recipe.trainable
        guard let rank = trainable.loraRank, let alpha = trainable.loraAlpha else {
            throw TrainingError.checkpoint(path: checkpoint.path, reason: "has LoRA adapters but its recipe names no lora_rank/lora_alpha")
        }
        var result = weights
        for prefix in prefixes {
            guard let a = result.removeValue(forKey: "\(prefix).lora_A.weight"),
                  let b = result.removeValue(forKey: "\(prefix).lora_B.weight"), let w = result["\(prefix).weight"]
            else { throw TrainingError.checkpoint(path: checkpoint.path, reason: "incomplete LoRA adapter at \(prefix)") }
            result["\(prefix).weight"] = try withNoGrad { try Linear.mergedWeight(w, loraA: a, loraB: b, scale: alpha / Double(rank)) }
        }
        return result
    }

    /// Names the frozen base the delta applies to: the recipe's model path and its size, from trainer_state.json.
    private static func manifest(checkpoint: URL, tensors: [String]) throws -> Data {
        let state = try TrainerState.read(from: checkpoint)
        var base = URL(fileURLWithPath: (state.recipe.model.path as NSString).expandingTildeInPath)
        // A run that started from a delta (SFT after beacon pretraining) applies to that delta's base.
        if let parent = try? BeaconDelta.manifest(in: base) {
            base = try BeaconDelta.locateBase(parent, modelsDirectory: LanguageModel.modelsDirectory, delta: base)
        }
        var object: [String: Any] = [
            "format": BeaconDelta.manifestFormat, "version": 1, "base_model": base.lastPathComponent, "base_path": base.path,
            "trained_steps": state.step, "tensors": tensors,
        ]
        // A single-file base (the GGUF) is pinned by size and sha256; a base dir by its path only.
        let attributes = try? FileManager.default.attributesOfItem(atPath: base.path)
        if attributes?[.type] as? FileAttributeType == .typeRegular, let size = attributes?[.size] as? NSNumber {
            object["base_size"] = size.intValue
            object["base_sha256"] = try SHA256.hex(fileAt: base)
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
