import TestSupport
import Torch
import XCTest

/// The one-pass float32 kernels behind rmsNorm, applyRotary and siluMul: the same values as the composed formulas
/// (computed here in float64), for contiguous inputs, views into wider products, sizes that leave vector remainders,
/// and inputs big enough to be split over threads; and, as autograd functions, the same gradients.
final class FusedElementwiseTests: XCTestCase {
    override func setUp() { try? LibTorch.manualSeed(3) }

    func testRMSNormMatchesTheFormula() throws {
        for (rows, width) in [(3, 5), (7, 576), (300, 200)] {  // scalar tail, whole vectors, threaded
            let x = try Tensor.randn([1, rows, width]) * 3
            let w = try Tensor.randn([width])
            let x64 = try x.to(.float64), w64 = try w.to(.float64)
            let reference = try x64 * (try x64.pow(2).mean(dim: -1, keepDim: true) + 1e-5).rsqrt() * w64
            let fused = try withNoGrad { try Functional.rmsNorm(x, weight: w, eps: 1e-5) }
            XCTAssertEqual(fused.dtype, .float32)
            assertClose(try fused.to(.float64), reference, atol: 1e-5, rtol: 1e-5)
        }
    }

    func testRMSNormOfAViewReadsTheView() throws {
        let wide = try Tensor.randn([4, 96])
        let view = try wide.narrow(dim: 1, start: 32, length: 48)
        let w = try Tensor.randn([48])
        let fused = try withNoGrad { try Functional.rmsNorm(view, weight: w, eps: 1e-6) }
        let composed = try withNoGrad { try Functional.rmsNorm(try view.to(.float64), weight: try w.to(.float64), eps: 1e-6) }
        assertClose(try fused.to(.float64), composed, atol: 1e-5, rtol: 1e-5)
    }

    /// The kernel makes the composed ops' three roundings per element, so float32 results are bitwise equal to
    /// `x · cos + rotate_half(x) · sin` written out in float32 ops.
    func testRotaryIsBitwiseTheComposedOpsOnTransposedViews() throws {
        for (heads, seq, dim) in [(9, 40, 64), (3, 1200, 64), (2, 5, 6)] {  // vector, threaded, scalar
            let projected = try Tensor.randn([1, seq, heads * dim + 16])  // a wider product, like fused q/k/v
            let x = try projected.narrow(dim: 2, start: 16, length: heads * dim).reshape(1, seq, heads, dim).transpose(1, 2)
            let (cos, sin) = try tables(seq: seq, dim: dim)
            let fused = try withNoGrad { try Functional.applyRotary(x, cos: cos, sin: sin) }
            let half = dim / 2
            let rotated = try Tensor.cat([try x.narrow(dim: 3, start: half, length: half) * -1,
                                          try x.narrow(dim: 3, start: 0, length: half)], dim: 3)
            let composed = try x * cos + rotated * sin
            XCTAssertEqual(fused.shape, [1, heads, seq, dim])
            XCTAssertEqual(try fused.eq(composed).logicalNot().sum().itemInt(), 0, "heads \(heads), seq \(seq), dim \(dim)")
        }
    }

    private func tables(seq: Int, dim: Int) throws -> (Tensor, Tensor) {
        let angles = try Tensor.randn([seq, dim / 2]) * 50
        let table = try Tensor.cat([angles, angles], dim: -1)
        return (try table.cos(), try table.sin())
    }

    /// Training goes through the same kernels as autograd functions: gradients against the composed ops in float64.
    func testGradientsOfTheFusedOpsMatchTheComposedOnes() throws {
        func gradients(_ inputs: [Tensor], _ f: ([Tensor]) throws -> Tensor) throws -> [Tensor] {
            let leaves = try inputs.map { try $0.detach().setRequiresGrad() }
            try f(leaves).backward()
            return try leaves.map { try XCTUnwrap($0.grad).to(.float64) }
        }
        func check(_ inputs: [Tensor], _ name: String, _ f: @escaping ([Tensor]) throws -> Tensor) throws {
            let fused = try gradients(inputs, f)
            let composed = try gradients(try inputs.map { try $0.to(.float64) }, f)  // float64: the composed path
            for (a, b) in zip(fused, composed) { assertClose(a, b, atol: 1e-4, rtol: 1e-4, name) }
        }
        let probeNorm = try Tensor.randn([2, 33, 200])
        try check([try Tensor.randn([2, 33, 200]) * 2, try Tensor.randn([200])], "rmsNorm") {
            try (Functional.rmsNorm($0[0], weight: $0[1], eps: 1e-5) * probeNorm.to($0[0].dtype)).sum()
        }
        let (cos, sin) = try tables(seq: 300, dim: 64)
        let probeRope = try Tensor.randn([1, 3, 300, 64])
        try check([try Tensor.randn([1, 300, 3, 64]).transpose(1, 2)], "rope") {
            try (Functional.applyRotary($0[0], cos: cos.to($0[0].dtype), sin: sin.to($0[0].dtype)) * probeRope.to($0[0].dtype)).sum()
        }
        let probeSilu = try Tensor.randn([40, 1536])
        try check([try Tensor.randn([40, 1536]) * 4, try Tensor.randn([40, 1536])], "siluMul") {
            try (Functional.siluMul($0[0], $0[1]) * probeSilu.to($0[0].dtype)).sum()
        }
    }

    func testSiluMulMatchesTheFormulaOnViews() throws {
        for (rows, width) in [(5, 7), (9, 1536), (40, 1536)] {
            let product = try Tensor.randn([1, rows, 2 * width]) * 6  // gate and up side by side, like fused gate/up
            let gate = try product.narrow(dim: 2, start: 0, length: width)
            let up = try product.narrow(dim: 2, start: width, length: width)
            let fused = try withNoGrad { try Functional.siluMul(gate, up) }
            let reference = try gate.to(.float64).silu() * up.to(.float64)
            assertClose(try fused.to(.float64), reference, atol: 1e-5, rtol: 1e-5)
        }
        // Extremes: saturation both ways, and NaN passes through.
        let gate = try Tensor([-200, -90, -20, 0, 20, 90, 200, .nan] as [Float], shape: [1, 8])
        let up = try Tensor.ones([1, 8])
        let values: [Float] = try withNoGrad { try Functional.siluMul(gate, up) }.toArray()
        let expected: [Float] = [-0, -0, -20 / (1 + expf(20)), 0, 20 / (1 + expf(-20)), 90, 200]
        for (v, e) in zip(values, expected) { XCTAssertEqual(v, e, accuracy: max(1e-6, abs(e) * 1e-6)) }
        XCTAssertTrue(values[7].isNaN)
    }
}
