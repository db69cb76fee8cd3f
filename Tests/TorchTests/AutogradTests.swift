import Foundation
import Torch
import XCTest
import TestSupport

/// Gradients from autograd against central finite differences in double precision, for composite functions that
/// the models are built from.
final class AutogradTests: XCTestCase {
    /// Checks ∂f/∂input for every input against (f(x + h) − f(x − h)) / 2h, element by element.
    func assertGradientsMatchFiniteDifferences(
        _ inputs: [Tensor], h: Double = 1e-6, tolerance: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line,
        _ f: ([Tensor]) throws -> Tensor
    ) throws {
        for x in inputs { try x.setRequiresGrad(true) }
        try f(inputs).backward()
        for (index, x) in inputs.enumerated() {
            guard let analytic = try x.grad?.toArray(Double.self) else {
                return XCTFail("input \(index) got no gradient", file: file, line: line)
            }
            let values = try x.toArray(Double.self)
            // Evaluate f with input `index` replaced by a perturbed copy (fresh tensors: no views, no graph).
            func evaluate(replacing element: Int, with v: Double) throws -> Double {
                var perturbed = values
                perturbed[element] = v
                var arguments = inputs
                arguments[index] = try Tensor(perturbed, shape: x.shape)
                return try withNoGrad { try f(arguments).item() }
            }
            for i in values.indices {
                let numeric = (try evaluate(replacing: i, with: values[i] + h) - evaluate(replacing: i, with: values[i] - h)) / (2 * h)
                XCTAssertEqual(analytic[i], numeric, accuracy: tolerance * Swift.max(1, Swift.abs(numeric)),
                               "input \(index) element \(i)", file: file, line: line)
            }
        }
    }

    override func setUp() { try? LibTorch.manualSeed(7) }

    func testRMSNorm() throws {
        let x = try Tensor.randn([2, 3, 5], dtype: .float64)
        let w = try Tensor.randn([5], dtype: .float64)
        let probe = try Tensor.randn([2, 3, 5], dtype: .float64)
        try assertGradientsMatchFiniteDifferences([x, w]) { t in
            try (Functional.rmsNorm(t[0], weight: t[1], eps: 1e-6) * probe).sum()
        }
        // And the value is the formula.
        let reference = try x * (try x.pow(2).mean(dim: -1, keepDim: true) + 1e-6).rsqrt() * w
        assertClose(try Functional.rmsNorm(x, weight: w, eps: 1e-6), reference, atol: 1e-12)
    }

    func testCrossEntropyWithIgnoreIndex() throws {
        let logits = try Tensor.randn([5, 7], dtype: .float64)
        let targets = try Tensor([3, -100, 0, 6, -100] as [Int64])
        try assertGradientsMatchFiniteDifferences([logits]) { t in
            try Functional.crossEntropy(t[0], targets: targets)
        }
        // Ignored rows get exactly zero gradient.
        let grad = try logits.grad!
        XCTAssertEqual(try grad.select(dim: 0, index: 1).abs().sum().item(), 0)
        XCTAssertEqual(try grad.select(dim: 0, index: 4).abs().sum().item(), 0)
    }

    func testRotaryEmbedding() throws {
        let x = try Tensor.randn([1, 2, 4, 6], dtype: .float64)
        let angles = try Tensor.randn([4, 3], dtype: .float64)
        let table = try Tensor.cat([angles, angles], dim: -1)
        let (cos, sin) = (try table.cos(), try table.sin())
        let probe = try Tensor.randn([1, 2, 4, 6], dtype: .float64)
        try assertGradientsMatchFiniteDifferences([x]) { t in
            try (Functional.applyRotary(t[0], cos: cos, sin: sin) * probe).sum()
        }
        // A rotation keeps the norm of each (i, i + half) pair.
        let rotated = try Functional.applyRotary(x, cos: cos, sin: sin)
        assertClose(try rotated.norm(dims: [-1]), try x.norm(dims: [-1]), atol: 1e-12)
    }

    func testAttentionBlock() throws {
        // x → q, k, v projections → causal attention → output projection, all differentiable end to end.
        let x = try Tensor.randn([1, 4, 6], dtype: .float64)
        let wq = try Tensor.randn([6, 6], dtype: .float64) * 0.3
        let wk = try Tensor.randn([6, 6], dtype: .float64) * 0.3
        let wv = try Tensor.randn([6, 6], dtype: .float64) * 0.3
        let wo = try Tensor.randn([6, 6], dtype: .float64) * 0.3
        let probe = try Tensor.randn([1, 4, 6], dtype: .float64)
        try assertGradientsMatchFiniteDifferences([x, wq, wk, wv, wo]) { t in
            func heads(_ y: Tensor) throws -> Tensor { try y.reshape(1, 4, 2, 3).transpose(1, 2) }
            let q = try heads(Functional.linear(t[0], weight: t[1]))
            let k = try heads(Functional.linear(t[0], weight: t[2]))
            let v = try heads(Functional.linear(t[0], weight: t[3]))
            let o = try Functional.scaledDotProductAttention(q, k, v, causal: true).transpose(1, 2).reshape(1, 4, 6)
            return try (Functional.linear(o, weight: t[4]) * probe).sum()
        }
    }

    func testNoGradScopeAndGradientBookkeeping() throws {
        let w = try Tensor([1, 2, 3] as [Double]).setRequiresGrad()
        XCTAssertTrue(w.requiresGrad)
        let y = try withNoGrad { try (w * 2).sum() }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(isGradEnabled)
        XCTAssertNil(try w.grad)
        try (w * w).sum().backward()
        assertClose(try w.grad!, [2, 4, 6])
        try (w * w).sum().backward()  // accumulates
        assertClose(try w.grad!, [4, 8, 12])
        try w.zeroGrad(setToNone: false)
        assertClose(try w.grad!, [0, 0, 0])
        try w.zeroGrad()
        XCTAssertNil(try w.grad)
        XCTAssertFalse(try w.detach().requiresGrad)
        try w.setGrad(try Tensor([1, 1, 1] as [Double]))
        assertClose(try w.grad!, [1, 1, 1])
        // backward of a non-scalar needs an explicit gradient: an error, not a crash.
        XCTAssertThrowsError(try (w * 2).backward())
    }
}
