import Foundation
import Torch

/// Failures reading or writing a stored beacon memory; messages name the file and the problem.
public enum BeaconMemoryError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case otherModel(path: String, stored: String, model: String)
    case reservedMetadata(String)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let path, let reason): return "\(path): not a usable beacon memory: \(reason)"
        case .otherModel(let path, let stored, let model):
            return "\(path): this memory was made by another model (fingerprint \(stored)); the loaded model's "
                + "fingerprint is \(model). Memorize the input again with this model."
        case .reservedMetadata(let key): return "metadata key '\(key)' is reserved for the memory format"
        }
    }
}

// memory.safetensors: tensors `layers.N.{sink,beacon,raw}.{keys,values}` ([1, kvHeads, entries, headDim], before
// RoPE; absent when empty) and `__metadata__` with the format, the model fingerprint, the beacon settings, the ratio
// rule and the window cursor as JSON, plus the caller's own keys.
extension BeaconMemory {
    public static let format = "memorag.beacon-memory"
    public static let formatVersion = "1"
    static let reservedKeys: Set<String> = ["format", "version", "model_fingerprint", "layers", "settings", "rule", "cursor"]

    /// Writes the memory (atomically). `metadata` is stored along (e.g. the input's hash); its keys must not collide
    /// with the format's own.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        if let key = metadata.keys.first(where: { Self.reservedKeys.contains($0) }) {
            throw BeaconMemoryError.reservedMetadata(key)
        }
        guard let modelFingerprint else {
            throw BeaconMemoryError.unreadable(path: url.path, reason: "a training memory has no model fingerprint to store")
        }
        var tensors: [String: Tensor] = [:]
        for (i, s) in layers.enumerated() {
            let parts: [(String, Tensor?)] = [
                ("sink.keys", s.sinkKeys), ("sink.values", s.sinkValues), ("beacon.keys", s.beaconKeys),
                ("beacon.values", s.beaconValues), ("raw.keys", s.rawKeys), ("raw.values", s.rawValues),
            ]
            for (name, tensor) in parts {
                if let tensor { tensors["layers.\(i).\(name)"] = try tensor.detach().contiguous() }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var meta = metadata
        meta["format"] = Self.format
        meta["version"] = Self.formatVersion
        meta["model_fingerprint"] = modelFingerprint
        meta["layers"] = String(layers.count)
        meta["settings"] = String(decoding: try encoder.encode(settings), as: UTF8.self)
        meta["rule"] = String(decoding: try encoder.encode(rule), as: UTF8.self)
        meta["cursor"] = String(decoding: try encoder.encode(cursor), as: UTF8.self)
        try Safetensors.save(tensors, metadata: meta, to: url)
    }

    /// The caller's metadata stored with a memory (without the format's own keys).
    public static func metadata(at url: URL) throws -> [String: String] {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch {
            throw BeaconMemoryError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        return file.metadata.filter { !reservedKeys.contains($0.key) }
    }

    /// Reads a memory written by `save`, refusing one made by another model (config or weights).
    /// `modelFingerprint`, when the caller already has it, is `model.fingerprint` (which reads every weight).
    public static func load(from url: URL, for model: DecoderLM, modelFingerprint: String? = nil) throws -> BeaconMemory {
        func fail(_ reason: String) -> BeaconMemoryError { .unreadable(path: url.path, reason: reason) }
        let tensors: [String: Tensor]
        let meta: [String: String]
        do { (tensors, meta) = try Safetensors.load(url) } catch {
            throw fail(error.localizedDescription)
        }
        guard meta["format"] == format else { throw fail("format is '\(meta["format"] ?? "none")', expected '\(format)'") }
        guard meta["version"] == formatVersion else {
            throw fail("format version \(meta["version"] ?? "none") is not supported (expected \(formatVersion))")
        }
        guard let stored = meta["model_fingerprint"] else { throw fail("no model fingerprint") }
        let actual = try modelFingerprint ?? model.fingerprint
        guard stored == actual else { throw BeaconMemoryError.otherModel(path: url.path, stored: stored, model: actual) }
        let decoder = JSONDecoder()
        func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
            guard let text = meta[key] else { throw fail("metadata '\(key)' is missing") }
            do { return try decoder.decode(T.self, from: Data(text.utf8)) } catch {
                throw fail("metadata '\(key)' is not valid: \(error.localizedDescription)")
            }
        }
        let settings = try decode(BeaconSettings.self, "settings")
        let rule = try decode(BeaconRatioRule.self, "rule")
        let cursor = try decode(BeaconCursor.self, "cursor")
        guard settings == model.config.beacon else { throw fail("beacon settings differ from the model's") }
        let layerCount = model.config.numHiddenLayers
        guard meta["layers"] == String(layerCount) else { throw fail("layer count \(meta["layers"] ?? "none") ≠ \(layerCount)") }

        let memory = BeaconMemory(layerCount: layerCount, settings: settings, rule: rule, modelFingerprint: stored,
                                  training: false)
        memory.cursor = cursor
        let c = model.config
        // Saved device-free (the writer copies to host memory); loaded onto the device of the model that continues it.
        let device = model.device
        var expectedNames: Set<String> = []
        for i in 0..<layerCount {
            var s = BeaconLayerState()
            func part(_ name: String) throws -> Tensor? {
                let key = "layers.\(i).\(name)"
                guard let t = tensors[key] else { return nil }
                expectedNames.insert(key)
                guard t.rank == 4, t.dim(0) == 1, t.dim(1) == c.numKeyValueHeads, t.dim(3) == c.headDim else {
                    throw fail("tensor \(key) has shape \(t.shape), expected [1, \(c.numKeyValueHeads), n, \(c.headDim)]")
                }
                // A NaN entry would poison every answer (int8 inference fails inside libtorch): refuse it here.
                guard try t.isFinite().all().item() != 0 else { throw fail("tensor \(key) holds NaN or infinite values") }
                return try (t.dtype == model.dtype ? t : try t.to(model.dtype)).to(device: device)
            }
            (s.sinkKeys, s.sinkValues) = (try part("sink.keys"), try part("sink.values"))
            (s.beaconKeys, s.beaconValues) = (try part("beacon.keys"), try part("beacon.values"))
            (s.rawKeys, s.rawValues) = (try part("raw.keys"), try part("raw.values"))
            for (k, v) in [(s.sinkKeys, s.sinkValues), (s.beaconKeys, s.beaconValues), (s.rawKeys, s.rawValues)]
            where k?.dim(2) != v?.dim(2) {
                throw fail("layer \(i): keys and values disagree in length")
            }
            memory.layers[i] = s
        }
        if let extra = Set(tensors.keys).subtracting(expectedNames).sorted().first {
            throw fail("unexpected tensor \(extra)")
        }
        let lengths = Set(memory.layers.map { ($0.sinkKeys?.dim(2) ?? 0, $0.beaconKeys?.dim(2) ?? 0, $0.rawKeys?.dim(2) ?? 0) }
            .map { "\($0)" })
        guard lengths.count == 1 else { throw fail("layers hold different numbers of entries") }
        guard memory.rawEntries[0] == (cursor.previousWindowFull ? 0 : cursor.windowBeacons.count) else {
            throw fail("raw entries do not match the window cursor")
        }
        return memory
    }
}
