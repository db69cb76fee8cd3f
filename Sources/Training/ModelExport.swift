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

        var weights = try SafetensorsCheckpoint(directory: checkpoint).tensors()
        var lora: (rank: Int, alpha: Double)?
        if beaconOnly {
            // The delta keeps LoRA factors as they are (small) instead of the full weights they would change.
            lora = try deltaLoRA(&weights, checkpoint: checkpoint)
            weights = weights.filter { $0.key.contains("beacon") || $0.key.contains(".lora_") }
            guard weights.keys.contains(where: { $0.contains("beacon") }) else {
                throw TrainingError.nothingToTrain("\(checkpoint.path) has no tensor whose name contains 'beacon'")
            }
        } else {
            weights = try mergingLoRA(weights, checkpoint: checkpoint)
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
            try DurableFile.write(try manifest(checkpoint: checkpoint, tensors: weights.keys.sorted(), lora: lora),
                                  to: out.appendingPathComponent("manifest.json"))
            files.append("manifest.json")
        }
        let bytes = try weights.values.reduce(0) { $0 + (try $1.bytes().count) }
        return Report(tensors: weights.count, bytes: bytes, files: files)
    }

    /// Folds LoRA adapters (`X.lora_A.weight`, `X.lora_B.weight`) into `X.weight` with the scale alpha/rank of the
    /// checkpoint's recipe, so the export is a plain model.
    static func mergingLoRA(_ weights: [String: Tensor], checkpoint: URL) throws -> [String: Tensor] {
        let prefixes = BeaconDelta.loraPrefixes(weights.keys)
        guard !prefixes.isEmpty else { return weights }
        let (rank, alpha) = try recipeLoRA(of: checkpoint)
        var result = weights
        for prefix in prefixes {
            guard let a = result.removeValue(forKey: "\(prefix).lora_A.weight"),
                  let b = result.removeValue(forKey: "\(prefix).lora_B.weight"), let w = result["\(prefix).weight"]
            else { throw TrainingError.checkpoint(path: checkpoint.path, reason: "incomplete LoRA adapter at \(prefix)") }
            result["\(prefix).weight"] = try withNoGrad { try Linear.mergedWeight(w, loraA: a, loraB: b, scale: alpha / Double(rank)) }
        }
        return result
    }

    /// The LoRA factors a beacon-only delta of `checkpoint` must carry, added to `weights`, with their rank and
    /// alpha: the run's own adapters (a `lora` run), those of a delta the run started from (whose merged weights a
    /// beacon-only run left as they were), or, for a `lora` run over such a delta, both stacked into one pair.
    static func deltaLoRA(_ weights: inout [String: Tensor], checkpoint: URL) throws -> (rank: Int, alpha: Double)? {
        let own = !BeaconDelta.loraPrefixes(weights.keys).isEmpty
        let inherited = try startingDelta(of: checkpoint).flatMap { dir -> (URL, BeaconDelta.Manifest)? in
            guard let manifest = try BeaconDelta.manifest(in: dir), manifest.loraScale != nil else { return nil }
            return (dir, manifest)
        }
        guard let (dir, manifest) = inherited else { return own ? try recipeLoRA(of: checkpoint) : nil }
        let factors = try SafetensorsCheckpoint(directory: dir).tensors().filter { $0.key.contains(".lora_") }
        guard own else {
            weights.merge(factors) { $1 }
            return (manifest.loraRank!, manifest.loraAlpha!)
        }
        let (rank, alpha) = try recipeLoRA(of: checkpoint)
        let stacked = try stackedLoRA([(factors, manifest.loraRank!, manifest.loraScale!),
                                       (weights.filter { $0.key.contains(".lora_") }, rank, alpha / Double(rank))])
        weights = weights.filter { !$0.key.contains(".lora_") }.merging(stacked.factors) { $1 }
        return (stacked.rank, Double(stacked.rank))
    }

    /// Several sets of LoRA adapters as one, for a delta that has room for one pair per projection: the rank-r_i
    /// factors are stacked, A_i under each other and B_i (times its scale) side by side, so that with scale 1
    /// B A = Σ scale_i B_i A_i exactly. A projection some sets do not adapt gets zero rows and columns there.
    static func stackedLoRA(_ sets: [(factors: [String: Tensor], rank: Int, scale: Double)]) throws
        -> (factors: [String: Tensor], rank: Int)
    {
        let (a, b) = BeaconDelta.loraSuffixes
        let rank = sets.reduce(0) { $0 + $1.rank }
        var result: [String: Tensor] = [:]
        for prefix in Set(sets.flatMap { BeaconDelta.loraPrefixes($0.factors.keys) }) {
            guard let shape = sets.lazy.compactMap({ set -> (inputs: Int, outputs: Int, dtype: DType)? in
                guard let fa = set.factors[prefix + a], let fb = set.factors[prefix + b] else { return nil }
                return (fa.dim(1), fb.dim(0), fa.dtype)
            }).first else { throw TrainingError.unsupported("incomplete LoRA adapter at \(prefix)") }
            var aParts: [Tensor] = [], bParts: [Tensor] = []
            for set in sets {
                switch (set.factors[prefix + a], set.factors[prefix + b]) {
                case let (fa?, fb?):
                    aParts.append(try fa.to(.float32))
                    bParts.append(try fb.to(.float32) * set.scale)
                case (nil, nil):
                    aParts.append(try Tensor.zeros([set.rank, shape.inputs]))
                    bParts.append(try Tensor.zeros([shape.outputs, set.rank]))
                default:
                    throw TrainingError.unsupported("incomplete LoRA adapter at \(prefix)")
                }
            }
            result[prefix + a] = try Tensor.cat(aParts, dim: 0).to(shape.dtype)
            result[prefix + b] = try Tensor.cat(bParts, dim: 1).to(shape.dtype)
        }
        return (result, rank)
    }

    /// Rank and alpha of the LoRA adapters a checkpoint holds, from its run's recipe.
    private static func recipeLoRA(of checkpoint: URL) throws -> (rank: Int, alpha: Double) {
        let trainable = try TrainerState.read(from: checkpoint).recipe.trainable
        guard let rank = trainable.loraRank, let alpha = trainable.loraAlpha else {
            throw TrainingError.checkpoint(path: checkpoint.path, reason: "has LoRA adapters but its recipe names no lora_rank/lora_alpha")
        }
        return (rank, alpha)
    }

    /// The beacon delta in `checkpoint`'s chain of starting points (see `startingChain`), if any.
    static func startingDelta(of checkpoint: URL) throws -> URL? {
        try startingChain(of: checkpoint).first { try BeaconDelta.manifest(in: $0) != nil }
    }

    /// The models a beacon-only checkpoint's other weights come from, nearest first: the run's `model.path`, then,
    /// while the last one is a beacon delta, its base, or a checkpoint of a run that trained only the beacons, the
    /// model that run started from. A run that trained more than the beacons ends the chain.
    static func startingChain(of checkpoint: URL) throws -> [URL] {
        func modelPath(_ state: TrainerState) -> URL {
            URL(fileURLWithPath: (state.recipe.model.path as NSString).expandingTildeInPath)
        }
        var chain = [modelPath(try TrainerState.read(from: checkpoint))]
        for _ in 0..<16 {
            let last = chain[chain.count - 1]
            if let delta = try BeaconDelta.manifest(in: last) {
                chain.append(try BeaconDelta.locateBase(delta, modelsDirectory: LanguageModel.modelsDirectory, delta: last))
            } else if let state = try? TrainerState.read(from: last), state.recipe.trainable.mode == .onlyBeacon {
                chain.append(modelPath(state))
            } else {
                break
            }
        }
        return chain
    }

    /// Names the frozen base the delta applies to — the file or dir the beacons were trained over, found by
    /// following the chain of starting points back (see `frozenBase`) — with its size and sha256 when it is a file.
    private static func manifest(checkpoint: URL, tensors: [String], lora: (rank: Int, alpha: Double)?) throws -> Data {
        let state = try TrainerState.read(from: checkpoint)
        let base = try frozenBase(of: checkpoint)
        var object: [String: Any] = [
            "format": BeaconDelta.manifestFormat, "version": 1, "base_model": base.lastPathComponent, "base_path": base.path,
            "trained_steps": state.step, "tensors": tensors,
        ]
        if let lora {
            object["lora_rank"] = lora.rank
            object["lora_alpha"] = lora.alpha
        }
        // A single-file base (the GGUF) is pinned by size and sha256; a base dir by its path only.
        let attributes = try? FileManager.default.attributesOfItem(atPath: base.path)
        if attributes?[.type] as? FileAttributeType == .typeRegular, let size = attributes?[.size] as? NSNumber {
            object["base_size"] = size.intValue
            object["base_sha256"] = try SHA256.hex(fileAt: base)
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The model whose non-beacon weights a beacon-only checkpoint still holds unchanged: the end of its
    /// `startingChain`. So a delta exported after shipped model → beacon-pretrain → sft names the GGUF, as the
    /// shipped delta does, not a run directory.
    static func frozenBase(of checkpoint: URL) throws -> URL {
        try startingChain(of: checkpoint).last!
    }
}
