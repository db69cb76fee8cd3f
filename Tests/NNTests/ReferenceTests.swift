import Foundation
import NN
import Torch
import XCTest
import TestSupport

/// Each module against transformers/PyTorch outputs (Fixtures/make_nn_reference.py made nn_reference.safetensors).
final class ReferenceTests: XCTestCase {
    static let fixture = try! SafetensorsFile(
        url: Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("nn_reference.safetensors"))

    func t(_ name: String) throws -> Tensor { try Self.fixture.tensor(name) }

    /// The tensors under `prefix.` with the prefix removed (module weights keyed by their HF names).
    func weights(_ prefix: String, except: Set<String> = ["x", "out"]) throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for name in Self.fixture.names where name.hasPrefix(prefix + ".") {
            let key = String(name.dropFirst(prefix.count + 1))
            if !except.contains(key) { result[key] = try t(name) }
        }
        return result
    }

    func testLinear() throws {
        let linear = try Linear(7, 4, bias: true)
        try linear.update(parameters: try weights("linear"))
        assertClose(try linear(try t("linear.x")), try t("linear.out"))
    }

    func testEmbedding() throws {
        let embedding = try Embedding(11, 6)
        try embedding.update(parameters: try weights("embedding", except: ["ids", "out"]))
        assertClose(try embedding(try t("embedding.ids")), try t("embedding.out"))
    }

    func testRMSNorm() throws {
        let norm = try RMSNorm(8, eps: 1e-5)
        try norm.update(parameters: try weights("rmsnorm"))
        assertClose(try norm(try t("rmsnorm.x")), try t("rmsnorm.out"))
        // bf16 in, bf16 out, rounded as HF rounds (normalise in float32, cast, then multiply by the bf16 weight).
        let bf = try RMSNorm(8, eps: 1e-5, dtype: .bfloat16)
        try bf.update(parameters: try weights("rmsnorm_bf16"))
        let out = try bf(try t("rmsnorm_bf16.x"))
        XCTAssertEqual(out.dtype, .bfloat16)
        XCTAssertEqual(try out.bytes(), try t("rmsnorm_bf16.out").bytes())
    }

    func testLayerNorm() throws {
        let norm = try LayerNorm(8, eps: 1e-5)
        try norm.update(parameters: try weights("layernorm"))
        assertClose(try norm(try t("layernorm.x")), try t("layernorm.out"))
    }

    func testRotaryEmbeddingDefaultAndLlama3() throws {
        let cases: [(String, Double, RoPEScaling?)] = [
            ("rope", 10_000, nil),
            ("rope_llama3", 500_000, RoPEScaling(ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
                                                 originalMaxPositionEmbeddings: 8192)),
        ]
        for (prefix, theta, scaling) in cases {
            let rope = try RotaryEmbedding(headDim: 16, theta: theta, scaling: scaling)
            assertClose(rope.inverseFrequencies, try t("\(prefix).inv_freq"), atol: 0, rtol: 1e-6, prefix)
            let (cos, sin) = try rope.cosSin(positions: try t("\(prefix).positions"))
            assertClose(cos, try t("\(prefix).cos"), atol: 1e-6, rtol: 0, prefix)
            assertClose(sin, try t("\(prefix).sin"), atol: 1e-6, rtol: 0, prefix)
            assertClose(try rope.apply(try t("\(prefix).q"), cos: cos, sin: sin), try t("\(prefix).q_out"), prefix)
            assertClose(try rope.apply(try t("\(prefix).k"), cos: cos, sin: sin), try t("\(prefix).k_out"), prefix)
        }
        XCTAssertThrowsError(try RotaryEmbedding(headDim: 16, theta: 1e4, scaling: RoPEScaling(ropeType: "yarn", factor: 2)))
    }

    func testGroupedQueryAttentionMatchesLlamaAttention() throws {
        for (prefix, bias) in [("attention", false), ("attention_bias", true)] {
            let attention = try Attention(dims: 32, heads: 4, kvHeads: 2, headDim: 8, qkvBias: bias)
            try attention.update(parameters: try weights(prefix))
            let x = try t("\(prefix).x")
            let rope = try RotaryEmbedding(headDim: 8, theta: 10_000)
            let (cos, sin) = try rope.cosSin(positions: try Tensor.arange(x.dim(1)))
            assertClose(try attention(x, cos: cos, sin: sin), try t("\(prefix).out"), atol: 2e-5, rtol: 1e-4, prefix)
        }
    }

    func testSwiGLU() throws {
        let mlp = try SwiGLU(dims: 32, hiddenDims: 48)
        try mlp.update(parameters: try weights("mlp"))
        assertClose(try mlp(try t("mlp.x")), try t("mlp.out"), atol: 1e-5, rtol: 1e-5)
    }

    func testCrossEntropy() throws {
        let logits = try t("cross_entropy.logits"), targets = try t("cross_entropy.targets")
        assertClose(try Functional.crossEntropy(logits, targets: targets), try t("cross_entropy.loss"))
        assertClose(try Functional.crossEntropy(logits, targets: targets, reduction: .none), try t("cross_entropy.losses"))
    }
}
