import Foundation
@testable import Models
import TestSupport
import TinyModels
import Torch
import XCTest

/// Prepared weights (`LanguageModel.loadPrepared`): a tiny memory model shipped as a beacon delta with LoRA factors
/// over an HF base, both written at test time; the first load writes what it prepared, later loads map it.
final class PreparedWeightsTests: XCTestCase {
    static let beacon = BeaconSettings(window: 8, ratios: [2, 4])

    private var root: URL!
    private var base: URL!
    private var delta: URL!
    private var cacheDir: URL!

    override func setUpWithError() throws {
        root = try temporaryDirectory("prepared-weights")
        base = root.appendingPathComponent("base")
        delta = root.appendingPathComponent("delta")
        cacheDir = root.appendingPathComponent("prepared")
        try TinyModels.writeMemoryModel(to: base)
        try writeDelta()
    }

    override func tearDownWithError() throws {
        // A read-only dir left by a test must not keep its files from being removed.
        _ = chmod(cacheDir.path, 0o755)
        try? FileManager.default.removeItem(at: root)
    }

    /// Trained-looking beacon tensors (bf16) and LoRA factors for two base projections, as `memorag export
    /// --beacon-only` ships them.
    private func writeDelta(seed: UInt64 = 5) throws {
        try LibTorch.manualSeed(seed)
        let model = try DecoderLM.load(directory: base)
        try model.addBeacon(Self.beacon)
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in model.parameters() where name.contains("beacon") {
            tensors[name] = try (tensor + Tensor.randn(tensor.shape) * 0.1).to(.bfloat16)
        }
        let hidden = model.config.hiddenSize
        for (prefix, outputs) in [("model.layers.1.self_attn.q_proj", hidden), ("model.layers.0.mlp.gate_proj", 64)] {
            tensors[prefix + ".lora_A.weight"] = try Tensor.randn([4, hidden]).to(.bfloat16)
            tensors[prefix + ".lora_B.weight"] = try (Tensor.randn([outputs, 4]) * 0.1).to(.bfloat16)
        }
        try FileManager.default.createDirectory(at: delta, withIntermediateDirectories: true)
        try model.hfConfigJSON(dtype: .bfloat16).write(to: delta.appendingPathComponent("config.json"))
        try Safetensors.save(tensors, to: delta.appendingPathComponent("model.safetensors"))
        let manifest: [String: Any] = ["format": BeaconDelta.manifestFormat, "version": 1, "base_model": "base",
                                       "base_path": base.path, "tensors": tensors.keys.sorted(),
                                       "lora_rank": 4, "lora_alpha": 8]
        try JSONSerialization.data(withJSONObject: manifest).write(to: delta.appendingPathComponent("manifest.json"))
    }

    /// int8 where this libtorch packs int8 (x86), else float32 alone.
    private var settings: PreparedModelSettings {
        PreparedModelSettings(dtype: .float32, int8Weights: Int8Linear.isSupported)
    }

    private var cache: PreparedWeightsCache { PreparedWeightsCache(directory: cacheDir) }

    private func preparedFiles() throws -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: cacheDir.path))?.filter { $0.hasSuffix(".safetensors") }.sorted() ?? []
    }

    /// Logits over a prompt, and hidden states after a beacon memory (beacon projections, compression, the k/v
    /// projections beacon layers call alone), as raw bytes.
    private func outputs(_ model: DecoderLM) throws -> [[UInt8]] {
        let ids = (0..<20).map { ($0 * 37 + 5) % 400 + 3 }
        let logits = try withNoGrad { try model(Tensor(ids, shape: [1, ids.count])) }
        let memory = try model.makeBeaconMemory(ratio: 2)
        try model.memorize(Array(ids.prefix(16)), into: memory)
        let hidden = try model.beaconHiddenStates(Array(ids.suffix(4)), memory: memory)
        return [try logits.bytes(), try hidden.bytes()]
    }

    // MARK: identical results

    func testPreparedLoadComputesBitwiseWhatTheSlowPathDoes() throws {
        let slow = try LanguageModel.loadPrepared(delta, settings: settings, cache: .disabled)
        XCTAssertEqual(slow.route, .slow)
        XCTAssertNil(slow.file)
        XCTAssertEqual(slow.lm.model.isInt8, settings.int8Weights)

        let cold = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        XCTAssertEqual(cold.route, .slow)
        XCTAssertEqual(cold.notices, [])
        let written = try XCTUnwrap(cold.file)
        XCTAssertTrue(FileManager.default.fileExists(atPath: written.path))

        let warm = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        XCTAssertEqual(warm.route, .prepared)
        XCTAssertEqual(warm.file, written)
        XCTAssertEqual(warm.notices, [])
        XCTAssertEqual(warm.lm.model.isInt8, settings.int8Weights)
        XCTAssertEqual(warm.lm.model.config, slow.lm.model.config)
        XCTAssertEqual(warm.lm.model.parameters().map(\.name), slow.lm.model.parameters().map(\.name))
        XCTAssertEqual(warm.lm.model.int8Weights().map(\.name), slow.lm.model.int8Weights().map(\.name))

        let expected = try outputs(slow.lm.model)
        XCTAssertEqual(try outputs(cold.lm.model), expected)
        XCTAssertEqual(try outputs(warm.lm.model), expected, "prepared weights compute other bits than the slow path")
        XCTAssertEqual(warm.fingerprint, try slow.lm.model.fingerprint)
        XCTAssertEqual(warm.fingerprint, try warm.lm.model.fingerprint)
        let text = "The lighthouse keeper read the question."
        XCTAssertEqual(warm.lm.tokenizer.encode(text, addSpecialTokens: false),
                       slow.lm.tokenizer.encode(text, addSpecialTokens: false))
        XCTAssertEqual(warm.lm.chatTemplate, slow.lm.chatTemplate)
    }

    /// A plain model given fresh beacon parameters on load (what a beacon memory needs), in float32 without int8.
    func testFreshBeaconParametersOfAPlainModelArePreparedToo() throws {
        let plain = PreparedModelSettings(dtype: .float32, int8Weights: false, beacon: Self.beacon)
        let slow = try LanguageModel.loadPrepared(base, settings: plain, cache: .disabled)
        _ = try LanguageModel.loadPrepared(base, settings: plain, cache: cache)
        let warm = try LanguageModel.loadPrepared(base, settings: plain, cache: cache)
        XCTAssertEqual(warm.route, .prepared)
        XCTAssertFalse(warm.lm.model.isInt8)
        XCTAssertEqual(warm.lm.model.config.beacon, Self.beacon)
        XCTAssertEqual(try outputs(warm.lm.model), try outputs(slow.lm.model))
    }

    // MARK: keys

    func testAnyChangedInputOrSettingGivesANewKey() throws {
        let key = try PreparedKey(path: delta, settings: settings).hex
        XCTAssertEqual(try PreparedKey(path: delta, settings: settings).hex, key, "the key of unchanged inputs moved")

        var other = settings
        other.int8Weights.toggle()
        XCTAssertNotEqual(try PreparedKey(path: delta, settings: other).hex, key)
        other = settings
        other.dtype = .bfloat16
        XCTAssertNotEqual(try PreparedKey(path: delta, settings: other).hex, key)
        other = settings
        other.beacon = Self.beacon
        XCTAssertNotEqual(try PreparedKey(path: delta, settings: other).hex, key)

        // New delta weights (a new file: size, mtime or inode differ) and a rewritten base file.
        try writeDelta(seed: 6)
        let newDelta = try PreparedKey(path: delta, settings: settings)
        XCTAssertNotEqual(newDelta.hex, key)
        XCTAssertEqual(newDelta.stem, try PreparedKey(path: delta, settings: settings).stem)
        let weights = base.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: weights)
        try FileManager.default.removeItem(at: weights)
        try bytes.write(to: weights)
        XCTAssertNotEqual(try PreparedKey(path: delta, settings: settings).hex, newDelta.hex)
    }

    /// A new delta is prepared under its own key, and the files of the old one are removed.
    func testChangedDeltaIsPreparedAgainAndTheOldFilesGo() throws {
        _ = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        let first = try preparedFiles()
        XCTAssertEqual(first.count, 1)
        try writeDelta(seed: 9)
        let again = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        XCTAssertEqual(again.route, .slow)
        XCTAssertEqual(again.notices, [])
        let second = try preparedFiles()
        XCTAssertEqual(second.count, 1)
        XCTAssertNotEqual(second, first)
        let fresh = try LanguageModel.loadPrepared(delta, settings: settings, cache: .disabled)
        let warm = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        XCTAssertEqual(warm.route, .prepared)
        XCTAssertEqual(try outputs(warm.lm.model), try outputs(fresh.lm.model))
    }

    /// Writing prepared weights removes those of models whose path is gone, then the least recently used beyond
    /// the budget, never the ones just written.
    func testPruningRemovesVanishedModelsThenTheLeastRecentlyUsed() throws {
        let other = root.appendingPathComponent("other")
        try TinyModels.writeMemoryModel(to: other, seed: 8)
        let plain = PreparedModelSettings(dtype: .float32, int8Weights: false)
        let otherFile = try XCTUnwrap(try LanguageModel.loadPrepared(other, settings: plain, cache: cache).file)
        let baseFile = try XCTUnwrap(try LanguageModel.loadPrepared(base, settings: plain, cache: cache).file)
        XCTAssertEqual(try preparedFiles().count, 2)

        // A dead writer's temporary file (no process has this pid: above pid_max) and a live one's.
        let dead = cacheDir.appendingPathComponent(".x.safetensors.tmp-2147483000")
        let live = cacheDir.appendingPathComponent(".y.safetensors.tmp-\(getppid())")
        try Data([1]).write(to: dead)
        try Data([1]).write(to: live)
        try FileManager.default.removeItem(at: other)
        _ = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        XCTAssertFalse(FileManager.default.fileExists(atPath: otherFile.path), "a vanished model's files were kept")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead.path), "a dead writer's temporary file was kept")
        XCTAssertTrue(FileManager.default.fileExists(atPath: live.path), "a live writer's temporary file was removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: baseFile.path))
        XCTAssertEqual(try preparedFiles().count, 2)

        // A budget below one file: writing again (the delta in bf16, a new key) keeps only that one.
        let small = PreparedWeightsCache(directory: cacheDir, budgetBytes: 1)
        let bf16 = PreparedModelSettings(dtype: .bfloat16, int8Weights: false)
        let kept = try XCTUnwrap(try LanguageModel.loadPrepared(delta, settings: bf16, cache: small).file)
        XCTAssertEqual(try preparedFiles(), [kept.lastPathComponent])
        XCTAssertEqual(try LanguageModel.loadPrepared(delta, settings: bf16, cache: small).route, .prepared)
    }

    // MARK: damaged files

    func testTruncatedOrCorruptedPreparedWeightsFallBackAndAreRewritten() throws {
        let expected = try outputs(try LanguageModel.loadPrepared(delta, settings: settings, cache: .disabled).lm.model)
        let file = try XCTUnwrap(try LanguageModel.loadPrepared(delta, settings: settings, cache: cache).file)
        let good = try Data(contentsOf: file)
        let header = Int(good.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) + 8
        let damages: [(String, Data)] = [
            ("truncated", good.prefix(good.count - 1000)),
            ("cut in its header", good.prefix(100)),
            ("zeros over its data", good.prefix(header) + Data(count: good.count - header)),
            ("another file", Data(repeating: 7, count: 4096)),
            ("empty", Data()),
        ]
        for (what, damaged) in damages {
            try damaged.write(to: file)
            let load = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
            XCTAssertEqual(load.route, .slow, what)
            XCTAssertEqual(load.notices.count, 1, what)
            XCTAssertTrue(load.notices.first?.contains("are unusable") == true, "\(what): \(load.notices)")
            XCTAssertEqual(try outputs(load.lm.model), expected, what)
            XCTAssertEqual(try Data(contentsOf: file), good, "\(what): not rewritten as it was")
            let warm = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
            XCTAssertEqual(warm.route, .prepared, what)
            XCTAssertEqual(warm.notices, [], what)
        }
    }

    /// A file of the right name whose stored key is another's (copied over, or a stale file of another format) is
    /// refused by its key, not used.
    func testAFileWithAnotherKeyIsNotUsed() throws {
        let file = try XCTUnwrap(try LanguageModel.loadPrepared(delta, settings: settings, cache: cache).file)
        let stored = try SafetensorsFile(url: file)
        var metadata = stored.metadata
        metadata["key"] = String(repeating: "0", count: 64)
        try Safetensors.save(try stored.tensors(), metadata: metadata, to: file)
        let load = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        XCTAssertEqual(load.route, .slow)
        XCTAssertTrue(load.notices.first?.contains("key differs") == true, "\(load.notices)")
        XCTAssertEqual(try LanguageModel.loadPrepared(delta, settings: settings, cache: cache).route, .prepared)
    }

    // MARK: unwritable cache dirs

    func testReadOnlyCacheDirFallsBackWithANotice() throws {
        // A dir made read-only, where permission bits bind this user; else (root) /proc/self, where no file can be
        // made by anyone.
        var readOnly = cacheDir!
        try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(readOnly.path, 0o555), 0)
        if FileManager.default.createFile(atPath: readOnly.appendingPathComponent("probe").path, contents: Data()) {
            readOnly = URL(fileURLWithPath: "/proc/self")
        }
        let expected = try outputs(try LanguageModel.loadPrepared(delta, settings: settings, cache: .disabled).lm.model)
        for _ in 0..<2 {
            let load = try LanguageModel.loadPrepared(delta, settings: settings,
                                                      cache: PreparedWeightsCache(directory: readOnly))
            XCTAssertEqual(load.route, .slow)
            XCTAssertNil(load.file)
            XCTAssertEqual(load.notices.count, 1, "\(load.notices)")
            XCTAssertTrue(load.notices.first?.contains("could not write") == true, "\(load.notices)")
            XCTAssertEqual(try outputs(load.lm.model), expected)
        }
        XCTAssertEqual(try preparedFiles(), [])
    }

    /// A cache dir that cannot even be made (its parent is a file): the same fallback, whoever runs the test.
    func testUncreatableCacheDirFallsBackWithANotice() throws {
        let blocker = root.appendingPathComponent("not-a-dir")
        try Data("x".utf8).write(to: blocker)
        let load = try LanguageModel.loadPrepared(delta, settings: settings,
                                                  cache: PreparedWeightsCache(directory: blocker.appendingPathComponent("prepared")))
        XCTAssertEqual(load.route, .slow)
        XCTAssertNil(load.file)
        XCTAssertTrue(load.notices.first?.contains("could not write") == true, "\(load.notices)")
    }

    // MARK: fingerprint

    /// The fingerprint is computed once per key and read back after: a planted value comes back as it is, and a
    /// planted value for another key is ignored.
    func testFingerprintIsReusedAndKeyedByTheInputs() throws {
        let cold = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        let weights = try XCTUnwrap(cold.file)
        let sidecar = weights.deletingPathExtension().appendingPathExtension("json")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: sidecar)) as? [String: String])
        XCTAssertEqual(object["fingerprint"], cold.fingerprint)

        let planted = String(repeating: "ab", count: 16)
        var edited = object
        edited["fingerprint"] = planted
        try JSONSerialization.data(withJSONObject: edited).write(to: sidecar)
        XCTAssertEqual(try LanguageModel.loadPrepared(delta, settings: settings, cache: cache).fingerprint, planted)
        // Also on the slow path (the weights file gone, the fingerprint file kept).
        try FileManager.default.removeItem(at: weights)
        let slow = try LanguageModel.loadPrepared(delta, settings: settings, cache: cache)
        XCTAssertEqual(slow.route, .slow)
        XCTAssertEqual(slow.fingerprint, planted)

        edited["key"] = String(repeating: "1", count: 64)
        try JSONSerialization.data(withJSONObject: edited).write(to: sidecar)
        XCTAssertEqual(try LanguageModel.loadPrepared(delta, settings: settings, cache: cache).fingerprint, cold.fingerprint)
    }

    // MARK: the switch

    func testEnvironmentSwitch() {
        XCTAssertEqual(PreparedWeightsCache.fromEnvironment(["MEMORAG_PREPARED_CACHE": "0"]), .disabled)
        XCTAssertEqual(PreparedWeightsCache.fromEnvironment(["MEMORAG_PREPARED_CACHE": "off"]), .disabled)
        XCTAssertEqual(PreparedWeightsCache.fromEnvironment(["MEMORAG_PREPARED_CACHE": "/x/y"]).directory?.path, "/x/y")
        XCTAssertEqual(PreparedWeightsCache.fromEnvironment(["MEMORAG_CACHE": "/c"]).directory?.path, "/c/prepared")
    }
}
