import Foundation
@testable import Models
import NN
import Torch
import XCTest
import TestSupport

/// The beacon memory as a stored object: growth with n/r, export/import, copies, and refusal of another model's state.
final class BeaconMemoryTests: XCTestCase {
    static var fixtures: URL { BeaconParityTests.fixtures }

    func ids(_ n: Int, seed: Int = 3) -> [Int] { (0..<n).map { 3 + ($0 * 37 + seed * 11) % 90 } }

    func testMemoryGrowsAsLengthOverRatio() throws {
        let model = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("qwen2"))
        let window = model.config.beacon!.window
        for ratio in [2, 4, 8] {
            for n in [5, 16, 40, 64, 100] {
                let memory = try model.makeBeaconMemory(ratio: ratio)
                try model.memorize(ids(n), into: memory)
                let full = n / window * window
                let partial = n - full
                XCTAssertEqual(memory.beaconEntries, [full / ratio, full / ratio], "n=\(n) r=\(ratio)")
                XCTAssertEqual(memory.rawEntries, [partial + partial / ratio, partial + partial / ratio], "n=\(n) r=\(ratio)")
                XCTAssertEqual(memory.tokensSeen, n)
            }
        }
    }

    func testChunkedMemorizingEqualsOneCall() throws {
        let model = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("llama"))
        let input = ids(75)
        let whole = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(input, into: whole)
        let pieces = try model.makeBeaconMemory(ratio: 4)
        for range in [0..<7, 7..<30, 30..<31, 31..<75] { try model.memorize(Array(input[range]), into: pieces) }
        XCTAssertEqual(pieces.beaconEntries, whole.beaconEntries)
        XCTAssertEqual(pieces.rawEntries, whole.rawEntries)
        let a = try model.generate(promptIds: [5, 6, 7], parameters: .init(maxNewTokens: 8), memory: whole)
        let b = try model.generate(promptIds: [5, 6, 7], parameters: .init(maxNewTokens: 8), memory: pieces)
        XCTAssertEqual(a.outputIds, b.outputIds)
    }

    /// Token-by-token reading goes through the in-place attend cache (appends, rebuilds when a window fills, none
    /// shared by copies); it must give the hidden states that reading the same tokens in one call gives, and
    /// leave the memory it was copied from able to serve the next query identically.
    func testTokenByTokenReadingThroughTheAttendCacheEqualsOneCall() throws {
        let model = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("llama"))
        let stored = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(ids(37), into: stored)
        let more = ids(30, seed: 5)  // crosses at least one window boundary (window 16 in the fixture)
        let oneCall = try stored.copy()
        let whole = try model.beaconHiddenStates(more, memory: oneCall)
        for _ in 0..<2 {
            let stepwise = try stored.copy()
            var last: Tensor?
            for id in more { last = try model.beaconHiddenStates([id], memory: stepwise) }
            XCTAssertEqual(stepwise.beaconEntries, oneCall.beaconEntries)
            XCTAssertEqual(stepwise.rawEntries, oneCall.rawEntries)
            assertClose(try last!.select(dim: 0, index: last!.dim(0) - 1), try whole.select(dim: 0, index: whole.dim(0) - 1),
                        atol: 1e-4, rtol: 1e-4, "the last raw token's hidden state")
        }
    }

    /// Decoding appends raw entries in place, into buffers only the appending memory writes: a copy taken before
    /// the memory reads on keeps its entries, and the two then continue independently.
    func testCopiesAndTheOriginalAppendInPlaceWithoutSeeingEachOther() throws {
        let model = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("llama"))
        let memory = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(ids(37), into: memory)
        func query(_ m: BeaconMemory) throws -> Tensor {
            var last: Tensor?
            for id in [5, 6, 7] { last = try model.beaconHiddenStates([id], memory: m) }
            return last!
        }
        let fromStart = try query(try memory.copy())
        let early = try memory.copy()
        for id in ids(3, seed: 4) { _ = try model.beaconHiddenStates([id], memory: memory) }  // appends past `early`'s entries
        let advanced = try query(try memory.copy())
        assertClose(try query(early), fromStart, atol: 1e-6, rtol: 1e-6, "the copy saw entries appended after it was taken")
        assertClose(try query(try memory.copy()), advanced, atol: 1e-6, rtol: 1e-6,
                    "the copy's own appends reached the memory it came from")
    }

    /// A copy reads the rotated memory of the memory it was copied from where that one holds it, appending its own
    /// entries into buffers of its own: copies of a memory that read a shared prompt prefix continue exactly as a
    /// memory that reads the whole prompt itself, each as if the others were not there.
    func testCopiesReadTheRotatedMemoryWhereItLiesAndContinueAsIfTheyReadItThemselves() throws {
        let model = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("llama"))
        let stored = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(ids(37), into: stored)
        let prefix = ids(5, seed: 7)  // 37 + 5 tokens: the unfinished window (16 in the fixture) does not fill
        let primed = try stored.copy()
        try model.read(prefix, into: primed)
        XCTAssertEqual(primed.tokensSeen, 42)

        func lastHidden(_ rest: [Int], after memory: BeaconMemory) throws -> Tensor {
            var last: Tensor?
            for id in rest { last = try model.beaconHiddenStates([id], memory: memory) }
            return try last!.select(dim: 0, index: last!.dim(0) - 1)
        }
        var continuations: [BeaconMemory] = []
        for seed in [8, 9, 8] {
            let rest = ids(4, seed: seed)
            let itself = try stored.copy()
            let expected = try lastHidden(prefix + rest, after: itself)
            let continuation = try primed.copy()
            XCTAssertEqual(continuation.layers.map { $0.attendCache?.sharedCount }, primed.layers.indices.map { primed.entryCount(layer: $0) },
                           "the copy does not read the primed memory's rotated entries where they lie")
            assertClose(try lastHidden(rest, after: continuation), expected, atol: 1e-5, rtol: 1e-5, "seed \(seed)")
            continuations.append(continuation)
        }
        assertClose(try lastHidden([3], after: continuations[0]), try lastHidden([3], after: continuations[2]),
                    atol: 1e-6, rtol: 1e-6, "a copy's appends reached another copy")

        let prompt = prefix + ids(4, seed: 10)
        let parameters = GenerationParameters(maxNewTokens: 12)
        XCTAssertEqual(try model.generate(promptIds: prompt, alreadyRead: prefix.count, parameters: parameters,
                                          memory: try primed.copy()).outputIds,
                       try model.generate(promptIds: prompt, parameters: parameters, memory: try stored.copy()).outputIds)
        XCTAssertThrowsError(try model.generate(promptIds: prefix, alreadyRead: prefix.count, memory: try primed.copy()))
    }

    /// Reading the memory in bfloat16 (`attendDType`) rounds the rotated keys and values the decoded tokens read;
    /// the hidden states stay within bfloat16's resolution of the float32 reads, and copies keep the setting.
    func testBFloat16MemoryReadsStayCloseToFloat32Reads() throws {
        let model = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("llama"))
        let memory = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(ids(37), into: memory)
        let exact = try memory.copy()
        memory.attendDType = .bfloat16
        let narrow = try memory.copy()
        XCTAssertEqual(narrow.attendDType, .bfloat16)
        var a: Tensor?, b: Tensor?
        for id in ids(5, seed: 6) {
            a = try model.beaconHiddenStates([id], memory: exact)
            b = try model.beaconHiddenStates([id], memory: narrow)
        }
        let scale = try a!.abs().max().item()
        let difference = try (a! - b!).abs().max().item()
        XCTAssertLessThan(difference, 0.02 * scale)
        XCTAssertGreaterThan(difference, 0, "the bfloat16 reads computed exactly what float32 reads compute")
    }

    func testExportedMemoryContinuesLikeAnUninterruptedRun() throws {
        let model = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("qwen2"))
        let context = ids(43), prompt = [9, 8, 7, 6, 5]
        let parameters = GenerationParameters(maxNewTokens: 10)
        let uninterrupted = try model.generate(promptIds: context + prompt, parameters: parameters,
                                               memory: try model.makeBeaconMemory(ratio: 4))

        let memory = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(context, into: memory)
        let url = try temporaryDirectory("beacon-memory").appendingPathComponent("memory.safetensors")
        try memory.save(to: url, metadata: ["input_sha256": "abc"])
        XCTAssertEqual(try BeaconMemory.metadata(at: url), ["input_sha256": "abc"])
        let stored = try BeaconMemory.load(from: url, for: model)
        XCTAssertEqual(stored.beaconEntries, memory.beaconEntries)
        XCTAssertEqual(stored.rawEntries, memory.rawEntries)
        XCTAssertEqual(stored.tokensSeen, context.count)

        // Two queries from copies of the same stored state: both continue exactly like the uninterrupted run,
        // and the stored state is left as it was.
        for _ in 0..<2 {
            let query = try stored.copy()
            let result = try model.generate(promptIds: prompt, parameters: parameters, memory: query)
            XCTAssertEqual(result.outputIds, uninterrupted.outputIds)
            XCTAssertEqual(query.tokensSeen, context.count + prompt.count + result.outputIds.count - 1)
        }
        XCTAssertEqual(stored.tokensSeen, context.count)
        XCTAssertEqual(stored.rawEntries, memory.rawEntries)
    }

    func testMemoryOfAnotherModelIsRefused() throws {
        let qwen = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("qwen2"))
        let memory = try qwen.makeBeaconMemory(ratio: 2)
        try qwen.memorize(ids(20), into: memory)
        let dir = try temporaryDirectory("beacon-refuse")
        let url = dir.appendingPathComponent("memory.safetensors")
        try memory.save(to: url)

        // Another architecture and config.
        let llama = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("llama"))
        XCTAssertThrowsError(try BeaconMemory.load(from: url, for: llama)) { error in
            guard case BeaconMemoryError.otherModel = error else { return XCTFail("\(error)") }
            XCTAssertTrue(error.localizedDescription.contains("another model"), error.localizedDescription)
        }
        // The same config with one weight changed.
        let changed = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("qwen2"))
        let name = "model.layers.1.mlp.down_proj.weight"
        let weight = try XCTUnwrap(changed.parameters().first { $0.name == name }?.tensor)
        try changed.update(parameters: [name: try weight + 1e-3], strict: false)
        XCTAssertNotEqual(try changed.fingerprint, try qwen.fingerprint)
        XCTAssertThrowsError(try BeaconMemory.load(from: url, for: changed)) { error in
            guard case BeaconMemoryError.otherModel = error else { return XCTFail("\(error)") }
        }
        // Not a memory file at all.
        let bogus = dir.appendingPathComponent("bogus.safetensors")
        try Safetensors.save(["x": try Tensor([Float(1)])], to: bogus)
        XCTAssertThrowsError(try BeaconMemory.load(from: bogus, for: qwen)) { error in
            XCTAssertTrue(error.localizedDescription.contains("bogus.safetensors"), error.localizedDescription)
        }
        XCTAssertThrowsError(try memory.save(to: url, metadata: ["cursor": "x"]))
    }

    func testPlainModelGainsFreshBeaconParameters() throws {
        let plain = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("qwen2"))
        XCTAssertThrowsError(try plain.addBeacon(BeaconSettings(window: 16)))  // already a beacon model

        // A beacon config over a checkpoint without beacon tensors: they start as EOS embedding / plain copies.
        let source = Self.fixtures.appendingPathComponent("qwen2")
        let dir = try temporaryDirectory("beacon-fresh")
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
        let weights = try Safetensors.load(source.appendingPathComponent("model.safetensors")).tensors.filter { !$0.key.contains("beacon") }
        try Safetensors.save(weights, to: dir.appendingPathComponent("model.safetensors"))
        let fresh = try DecoderLM.load(directory: dir)
        let p = Dictionary(uniqueKeysWithValues: fresh.parameters().map { ($0.name, $0.tensor) })
        let eos = fresh.config.eosTokenIds[0]
        assertClose(try XCTUnwrap(p["model.beacon_embed_tokens.weight"]),
                    try p["model.embed_tokens.weight"]!.narrow(dim: 0, start: eos, length: 1), atol: 0, rtol: 0)
        for proj in ["q", "k", "v"] {
            for kind in ["weight", "bias"] {
                let name = "model.layers.1.self_attn.beacon_\(proj)_proj.\(kind)"
                assertClose(try XCTUnwrap(p[name]), p["model.layers.1.self_attn.\(proj)_proj.\(kind)"]!, atol: 0, rtol: 0, name)
            }
        }
        XCTAssertNil(p["model.layers.0.self_attn.beacon_o_proj.weight"])

        // addBeacon on a plain model, then only the beacon parameters train.
        let config = try JSONDecoder().decode(DecoderConfig.self, from: Data(contentsOf: Self.fixtures
            .deletingLastPathComponent().appendingPathComponent("decoders/llama/config.json")))
        XCTAssertNil(config.beacon)
        let model = try DecoderLM(config: config)
        try model.addBeacon(BeaconSettings(window: 8, ratios: [2], parameters: ["q", "k", "v", "o"]))
        XCTAssertEqual(model.config.beacon?.window, 8)
        try model.trainOnlyBeacon()
        let trainable = model.trainableParameters().map(\.name)
        XCTAssertEqual(trainable.count, 1 + 4 * config.numHiddenLayers)
        XCTAssertTrue(trainable.allSatisfy { $0.contains("beacon_") })
        let memory = try model.makeBeaconMemory(ratio: nil)
        try model.memorize(ids(20), into: memory)
        XCTAssertEqual(memory.beaconEntries, Array(repeating: 8, count: config.numHiddenLayers))

        // The beacon keys survive a config.json round trip.
        let encoded = try JSONEncoder().encode(model.config)
        XCTAssertEqual(try JSONDecoder().decode(DecoderConfig.self, from: encoded), model.config)
    }

    func testUnsupportedBeaconSettingsAreRefused() throws {
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("qwen2/config.json"))) as! [String: Any]
        for (key, value) in [("beacon_pos", "append"), ("beacon_attn", "segmentation"), ("beacon_ratio_mix", "weird")] as [(String, Any)] {
            var config = base
            config[key] = value
            config["beacon_ratio"] = [2, 4]
            let data = try JSONSerialization.data(withJSONObject: config)
            XCTAssertThrowsError(try JSONDecoder().decode(DecoderConfig.self, from: data), key) { error in
                // The error names the key at fault (it used to say 'beacon_window' whatever the key).
                guard case DecodingError.dataCorrupted(let context) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(context.codingPath.last?.stringValue, key)
            }
        }
    }

    func testAMemoryHoldingNaNIsRefusedWhenLoaded() throws {
        let qwen = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("qwen2"))
        let memory = try qwen.makeBeaconMemory(ratio: 2)
        try qwen.memorize(ids(20), into: memory)
        let url = try temporaryDirectory("beacon-nan").appendingPathComponent("memory.safetensors")
        try memory.save(to: url)
        var (tensors, metadata) = try Safetensors.load(url)
        let name = try XCTUnwrap(tensors.keys.sorted().first)
        tensors[name] = try Tensor.full(tensors[name]!.shape, .nan)
        try Safetensors.save(tensors, metadata: metadata, to: url)
        XCTAssertThrowsError(try BeaconMemory.load(from: url, for: qwen)) { error in
            XCTAssertTrue(error.localizedDescription.contains("memory.safetensors"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("\(name) holds NaN"), error.localizedDescription)
        }
    }
}

/// The ratio rules of `beacon_ratio_mix`.
final class BeaconRatioRuleTests: XCTestCase {
    func testGenerationReadsALongPromptAtTheSmallestConfiguredRatioThatFits() throws {
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: BeaconMemoryTests.fixtures
            .appendingPathComponent("qwen2/config.json"))) as! [String: Any]
        config["beacon_ratio"] = [2, 4, 8]
        config["beacon_ratio_mix"] = "step-random"
        let settings = try XCTUnwrap(try JSONDecoder().decode(DecoderConfig.self,
                                                              from: JSONSerialization.data(withJSONObject: config)).beacon)
        XCTAssertEqual(try settings.inferenceRule(futureTokens: 6), .adapt([2, 4, 8], futureTokens: 6))
        var single = settings
        single.ratios = [4]
        XCTAssertEqual(try single.inferenceRule(futureTokens: 6), .fixed(4))

        // 256 positions, windows of 16: ratio 4 holds 976 tokens, ratio 8 1936; 1000 + 6 need ratio 8.
        let model = try DecoderLM.load(directory: BeaconMemoryTests.fixtures.appendingPathComponent("qwen2"))
        model.config.beacon = settings
        let memory = try model.makeBeaconMemory(rule: settings.inferenceRule(futureTokens: 6))
        let prompt = (0..<1000).map { 3 + ($0 * 37) % 90 }
        let result = try model.generate(promptIds: prompt, parameters: .init(maxNewTokens: 6), memory: memory)
        XCTAssertEqual(memory.currentRatio, 8)
        XCTAssertEqual(result.outputIds.count, 6)
        // Past what even ratio 8 holds, it fails at once.
        XCTAssertThrowsError(try model.generate(promptIds: Array(repeating: 5, count: 2000),
                                                memory: try model.makeBeaconMemory(rule: .adapt([2, 4, 8], futureTokens: 0)))) {
            XCTAssertTrue($0.localizedDescription.contains("even compressed 8× this beacon model holds at most 1936"),
                          $0.localizedDescription)
        }
    }

    func testAdaptPicksTheSmallestRatioThatFitsThePositionBudget() throws {
        let model = try DecoderLM.load(directory: BeaconParityTests.fixtures.appendingPathComponent("qwen2"))
        // 256 positions, window 16: ratio r holds (256 − 16)·r + 16 tokens: 496 at r=2, 976 at r=4, 1936 at r=8.
        for (n, future, want) in [(400, 0, 2), (600, 0, 4), (600, 500, 8), (3000, 0, 8)] {
            let memory = try model.makeBeaconMemory(rule: .adapt([2, 4, 8], futureTokens: future))
            try model.memorize((0..<n).map { 3 + $0 % 90 }, into: memory)
            XCTAssertEqual(memory.currentRatio, want, "n=\(n) future=\(future)")
            XCTAssertEqual(memory.beaconEntries[0], n / 16 * 16 / want)
        }
        // From the config: beacon_ratio_mix "adapt-0".
        XCTAssertEqual(try BeaconSettings(window: 16, ratios: [2, 4], ratioMix: "adapt-0").ratioRule(fixed: nil),
                       .adapt([2, 4], futureTokens: 0))
    }

    func testRandomMixesAreSeededAndStayAmongValidRatios() throws {
        let model = try DecoderLM.load(directory: BeaconParityTests.fixtures.appendingPathComponent("llama"))
        let ids = (0..<160).map { 3 + $0 % 90 }  // 10 windows
        func beacons(_ rule: BeaconRatioRule) throws -> Int {
            let memory = try model.makeBeaconMemory(rule: rule)
            try model.memorize(ids, into: memory)
            return memory.beaconEntries[0]
        }
        let stepRandom = try beacons(.stepRandom([2, 4, 8, 3, 32], seed: 42))  // 3 and 32 do not fit a window of 16
        XCTAssertEqual(stepRandom, try beacons(.stepRandom([2, 4, 8, 3, 32], seed: 42)))
        XCTAssertTrue((10 * 2...10 * 8).contains(stepRandom), "\(stepRandom)")
        XCTAssertNotEqual(stepRandom % 20, 0, "10 windows at one ratio would give a multiple of 10·16/r")
        let instance = try beacons(.instanceRandom([2, 4, 8], seed: 7))
        XCTAssertTrue([80, 40, 20].contains(instance), "\(instance)")
        XCTAssertEqual(try beacons(.sequence([2, 8])), 5 * 8 + 5 * 2)
        XCTAssertThrowsError(try beacons(.stepRandom([3, 5], seed: 1)))  // nothing divides the window
    }
}
