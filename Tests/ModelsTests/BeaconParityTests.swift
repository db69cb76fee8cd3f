import Foundation
import Models
import Torch
import XCTest
import TestSupport

/// Tiny random Qwen2 and Llama beacon models run by the Activation Beacon reference implementation
/// (Fixtures/beacon/make_beacon_fixtures.py): last-step hidden states, KV counts per layer, greedy tokens, and
/// training loss and beacon-parameter gradients.
final class BeaconParityTests: XCTestCase {
    struct KVCounts: Decodable, Equatable {
        var sink: [Int]
        var beacon: [Int]
        var raw: [Int]
    }

    struct InferenceCase: Decodable {
        var name: String
        var input_ids: [Int]
        var ratios: [Int]
        var sink: Int
        var chosen_ratios: [Int]
        var last_hidden: [[Double]]
        var kv_after_input: KVCounts
        var kv_after_generation: KVCounts
        var greedy: [Int]
    }

    struct TrainingCase: Decodable {
        var input_ids: [Int]
        var ratios: [Int]
        var chosen_ratios: [Int]
        var loss: Double
    }

    struct Expected: Decodable {
        var inference: [InferenceCase]
        var training: [TrainingCase]
    }

    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("beacon")

    static func expected(_ arch: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtures.appendingPathComponent("\(arch)/expected.json")))
    }

    /// The fixture model on the test device (`MEMORAG_TEST_DEVICE`), with `beacon_sink_size` set as the case needs
    /// (a config.json edit, as a user would).
    static func model(_ arch: String, sink: Int = 0) throws -> DecoderLM {
        let model = try loadOnCPU(arch, sink: sink)
        try model.move(to: TestDevice.current())
        return model
    }

    static func loadOnCPU(_ arch: String, sink: Int = 0) throws -> DecoderLM {
        let source = fixtures.appendingPathComponent(arch)
        if sink == 0 { return try DecoderLM.load(directory: source) }
        let dir = try temporaryDirectory("beacon-sink")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        config["beacon_sink_size"] = sink
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: source.appendingPathComponent("model.safetensors"),
                                         to: dir.appendingPathComponent("model.safetensors"))
        return try DecoderLM.load(directory: dir)
    }

    /// Fixed ratios go through the public ratio argument; random mixes replay the reference's per-window picks.
    static func memory(_ model: DecoderLM, _ c: InferenceCase) throws -> BeaconMemory {
        c.ratios.count == 1 ? try model.makeBeaconMemory(ratio: c.ratios[0]) : try model.makeBeaconMemory(rule: .schedule(c.chosen_ratios))
    }

    func counts(_ m: BeaconMemory) -> KVCounts { KVCounts(sink: m.sinkEntries, beacon: m.beaconEntries, raw: m.rawEntries) }

    func checkInference(_ arch: String) throws {
        let expected = try Self.expected(arch)
        XCTAssertEqual(expected.inference.count, 17)
        var models: [Int: DecoderLM] = [:]
        for c in expected.inference {
            let model = try models[c.sink] ?? Self.model(arch, sink: c.sink)
            models[c.sink] = model
            let memory = try Self.memory(model, c)
            let hidden = try model.beaconHiddenStates(c.input_ids, memory: memory)
            let want = try Tensor(c.last_hidden.flatMap { $0 }, shape: [c.last_hidden.count, c.last_hidden[0].count])
            XCTAssertEqual(hidden.shape, want.shape, "\(arch) \(c.name)")
            if hidden.shape == want.shape {
                assertClose(hidden, try want.to(.float32), atol: 1e-4, rtol: 1e-4, "\(arch) \(c.name) hidden")
            }
            XCTAssertEqual(counts(memory), c.kv_after_input, "\(arch) \(c.name) KV after input")

            let generating = try Self.memory(model, c)
            let result = try model.generate(promptIds: c.input_ids, parameters: .init(maxNewTokens: c.greedy.count),
                                            memory: generating)
            XCTAssertEqual(result.outputIds, c.greedy, "\(arch) \(c.name) greedy")
            // The reference also fed the last generated token through the model.
            try model.memorize([result.outputIds.last!], into: generating)
            XCTAssertEqual(counts(generating), c.kv_after_generation, "\(arch) \(c.name) KV after generation")
            XCTAssertEqual(generating.tokensSeen, c.input_ids.count + c.greedy.count)
        }
    }

    func testQwen2InferenceMatchesReference() throws { try checkInference("qwen2") }
    func testLlamaInferenceMatchesReference() throws { try checkInference("llama") }
}

/// Training mode against the reference: loss and the gradient of every beacon parameter.
final class BeaconTrainingParityTests: XCTestCase {
    /// `recompute`: the bounded-memory path (`beaconLossBackward`) instead of one graph over the sample.
    func checkTraining(_ arch: String, recompute: Bool = false) throws {
        let expected = try BeaconParityTests.expected(arch)
        let grads = try Safetensors.load(BeaconParityTests.fixtures.appendingPathComponent("\(arch)/grads.safetensors")).tensors
        let model = try BeaconParityTests.model(arch)
        // Another device sums in another order: the bounds there (loss 1e-4, gradients 1e-3).
        let onCPU = try TestDevice.current() == .cpu
        let (lossBound, gradientBound) = onCPU ? (1e-5, 1e-4) : (1e-4, 1e-3)
        let names = try model.trainOnlyBeacon()
        XCTAssertEqual(Set(model.trainableParameters().map(\.name)), Set(names))
        for (i, c) in expected.training.enumerated() {
            for p in model.trainableParameters() { try p.tensor.zeroGrad() }
            if recompute {
                let (loss, valid) = try model.beaconLossBackward(inputIds: c.input_ids, rule: .schedule(c.chosen_ratios))
                XCTAssertEqual(valid, c.input_ids.count - 1)
                XCTAssertEqual(loss, c.loss, accuracy: lossBound, "\(arch) case \(i) loss (recomputed)")
            } else {
                let (loss, valid) = try model.beaconLoss(inputIds: c.input_ids, rule: .schedule(c.chosen_ratios))
                XCTAssertEqual(valid, c.input_ids.count - 1)
                XCTAssertEqual(try loss.item(), c.loss, accuracy: lossBound, "\(arch) case \(i) loss")
                try loss.backward()
            }
            var checked = 0
            for (name, tensor) in model.trainableParameters() {
                let want = try XCTUnwrap(grads["case\(i).\(name)"], "\(arch) case \(i): no reference gradient for \(name)")
                let got = try XCTUnwrap(try tensor.grad, "\(arch) case \(i): no gradient for \(name)")
                assertClose(got, want, atol: gradientBound, rtol: gradientBound, "\(arch) case \(i) grad \(name)")
                checked += 1
            }
            XCTAssertEqual(checked, grads.keys.filter { $0.hasPrefix("case\(i).") }.count)
        }
    }

    func testQwen2TrainingLossAndGradientsMatchReference() throws { try checkTraining("qwen2") }
    func testLlamaTrainingLossAndGradientsMatchReference() throws { try checkTraining("llama") }
    func testQwen2RecomputedWindowsGiveTheReferenceGradients() throws { try checkTraining("qwen2", recompute: true) }
    func testLlamaRecomputedWindowsGiveTheReferenceGradients() throws { try checkTraining("llama", recompute: true) }
}
