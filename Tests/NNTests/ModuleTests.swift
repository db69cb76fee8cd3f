import NN
import Torch
import XCTest
import TestSupport

/// Parameter naming, strict loading and freezing by pattern.
final class ModuleTests: XCTestCase {
    final class Block: Module {
        @ModuleInfo(key: "self_attn") var attention: Attention
        @ModuleInfo(key: "mlp") var mlp: SwiGLU
        @ModuleInfo(key: "input_layernorm") var norm: RMSNorm

        override init() {
            super.init()
            attention = try! Attention(dims: 8, heads: 2, kvHeads: 1, qkvBias: true)
            mlp = try! SwiGLU(dims: 8, hiddenDims: 12)
            norm = try! RMSNorm(8)
        }
    }

    final class Tiny: Module {
        @ModuleInfo(key: "embed_tokens") var embed: Embedding
        @ModuleInfo(key: "layers") var layers: [Block]
        @ModuleInfo(key: "lm_head") var head: Linear?

        init(tied: Bool) {
            super.init()
            embed = try! Embedding(10, 8)
            layers = [Block(), Block()]
            head = tied ? nil : try! Linear(8, 10, bias: false)
        }
    }

    func testParameterNamesAreHuggingFaceKeys() {
        let names = Tiny(tied: false).parameters().map(\.name)
        XCTAssertEqual(names.first, "embed_tokens.weight")
        XCTAssertTrue(names.contains("layers.1.self_attn.q_proj.bias"))
        XCTAssertFalse(names.contains("layers.1.self_attn.o_proj.bias"), "o_proj has no bias")
        XCTAssertTrue(names.contains("layers.0.mlp.down_proj.weight"))
        XCTAssertTrue(names.contains("layers.0.input_layernorm.weight"))
        XCTAssertEqual(names.last, "lm_head.weight")
        XCTAssertEqual(names.count, 1 + 2 * (7 + 3 + 1) + 1)
        XCTAssertFalse(Tiny(tied: true).parameters().map(\.name).contains("lm_head.weight"))
    }

    func testStrictUpdate() throws {
        let model = Tiny(tied: true)
        var weights = Dictionary(uniqueKeysWithValues: model.parameters().map { ($0.name, try! Tensor.ones($0.tensor.shape)) })
        try model.update(parameters: weights)
        XCTAssertEqual(try model.layers[1].mlp.up.weight.sum().item(), Double(12 * 8))

        weights["lm_head.weight"] = try Tensor.ones([10, 8])
        XCTAssertThrowsError(try model.update(parameters: weights)) {
            XCTAssertEqual($0 as? ModuleError, .unexpectedParameters(["lm_head.weight"]))
        }
        weights["lm_head.weight"] = nil
        weights["layers.0.mlp.up_proj.weight"] = nil
        XCTAssertThrowsError(try model.update(parameters: weights)) {
            XCTAssertEqual($0 as? ModuleError, .missingParameters(["layers.0.mlp.up_proj.weight"]))
        }
        try model.update(parameters: weights, strict: false)
        weights["layers.0.mlp.up_proj.weight"] = try Tensor.ones([3, 3])
        XCTAssertThrowsError(try model.update(parameters: weights)) {
            XCTAssertEqual($0 as? ModuleError, .shapeMismatch(name: "layers.0.mlp.up_proj.weight", expected: [12, 8], got: [3, 3]))
        }
        XCTAssertTrue("\(ModuleError.missingParameters(["a"]).localizedDescription)".contains("a"))
    }

    func testUpdateConvertsDtypeAndKeepsTrainability() throws {
        let norm = try RMSNorm(4, dtype: .bfloat16)
        try norm.setTrainable(true, matching: ["*"])
        try norm.update(parameters: ["weight": try Tensor([1, 2, 3, 4] as [Float])])
        XCTAssertEqual(norm.weight.dtype, .bfloat16)
        XCTAssertTrue(norm.weight.requiresGrad)
    }

    func testFreezingByPattern() throws {
        let model = Tiny(tied: false)
        XCTAssertTrue(model.trainableParameters().isEmpty, "parameters start frozen")
        try model.trainOnly(["*.self_attn.*_proj.*", "lm_head.*"])
        let trainable = Set(model.trainableParameters().map(\.name))
        XCTAssertTrue(trainable.contains("layers.0.self_attn.k_proj.bias"))
        XCTAssertTrue(trainable.contains("lm_head.weight"))
        XCTAssertFalse(trainable.contains("layers.0.mlp.up_proj.weight"))
        XCTAssertEqual(trainable.count, 2 * 7 + 1)
        // Gradients reach exactly the trainable ones.
        let x = try Tensor.randn([1, 3, 8])
        let rope = try RotaryEmbedding(headDim: 4, theta: 10_000)
        let (cos, sin) = try rope.cosSin(positions: try Tensor.arange(3))
        try model.head!(try model.layers[0].mlp(try model.layers[0].attention(x, cos: cos, sin: sin))).sum().backward()
        XCTAssertNotNil(try model.layers[0].attention.qProj.weight.grad)
        XCTAssertNil(try model.layers[0].mlp.up.weight.grad)
    }
}
