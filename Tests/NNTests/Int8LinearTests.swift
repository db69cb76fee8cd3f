import NN
import TestSupport
import Torch
import XCTest

/// Int8 weights (`Int8Linear`, `Linear.quantizeInt8`): the packed product against the float one and against the
/// product with the weight rounded per row the same way, the grad-mode switch, and bad inputs.
final class Int8LinearTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(Int8Linear.isSupported, "this libtorch has no x86 quantized engine")
    }

    func testThePackedProductIsTheRoundedWeightsProductUpToActivationRounding() throws {
        try LibTorch.manualSeed(3)
        let weight = try Tensor.randn([48, 80])
        let bias = try Tensor.randn([48])
        let x = try Tensor.randn([2, 5, 80])
        let packed = try Int8Linear(weight: weight, bias: bias)
        XCTAssertEqual(packed.inputs, 80)
        XCTAssertEqual(packed.outputs, 48)
        let y = try packed(x)
        XCTAssertEqual(y.shape, [2, 5, 48])

        // The weight as int8 would hold it: one symmetric scale per output row, max |w| → 127.
        let w = try weight.toArray(Float.self)
        var rounded = [Float](repeating: 0, count: w.count)
        for row in 0..<48 {
            let values = w[(row * 80)..<((row + 1) * 80)]
            let scale = values.map { abs($0) }.max()! / 127
            for (j, v) in values.enumerated() { rounded[row * 80 + j] = (v / scale).rounded() * scale }
        }
        let roundedProduct = try Functional.linear(x, weight: try Tensor(rounded, shape: [48, 80]), bias: bias)
        let floatProduct = try Functional.linear(x, weight: weight, bias: bias)
        let scale = try floatProduct.abs().max().item()
        // What is left after the weight rounding is the activations' (7-bit, per-tensor) rounding: a few percent.
        let activationError = try (y - roundedProduct).abs().max().item() / scale
        let totalError = try (y - floatProduct).abs().max().item() / scale
        XCTAssertLessThan(activationError, 0.03)
        XCTAssertLessThan(totalError, 0.04)
        XCTAssertGreaterThan(totalError, 0, "an int8 product identical to the float one was not computed in int8")
    }

    /// q/k/v (or gate/up) packed as one product give what each layer's own packed copy gives: rows are quantized
    /// one by one on both sides. A layer with a LoRA adapter is not fused (the product would leave it out).
    func testFusedProjectionsGiveEachLayersOwnInt8Product() throws {
        try LibTorch.manualSeed(8)
        let layers = [try Linear(64, 48, bias: true), try Linear(64, 16, bias: false), try Linear(64, 16, bias: true)]
        for layer in layers {
            try withNoGrad { try layer.bias?.copyFrom(try Tensor.randn([layer.weight.dim(0)])) }
            try layer.quantizeInt8()
        }
        let x = try Tensor.randn([1, 7, 64]) * 3
        let fused = try XCTUnwrap(try FusedInt8Linears(layers))
        XCTAssertEqual(fused.widths, [48, 16, 16])
        let outputs = try withNoGrad { try fused(x) }
        for (output, layer) in zip(outputs, layers) {
            let own = try withNoGrad { try layer(x) }
            XCTAssertEqual(output.shape, own.shape)
            assertClose(output, own, atol: 1e-5, rtol: 1e-5)
        }

        let attention = try Attention(dims: 64, heads: 4, kvHeads: 2)
        for (_, linear) in attention.linears() { try linear.quantizeInt8() }
        let separate = try withNoGrad { try attention.projectQKV(x) }
        try attention.packFusedInt8()
        XCTAssertNotNil(attention.fusedQKV)
        let together = try withNoGrad { try attention.projectQKV(x) }
        assertClose(together.q, separate.q, atol: 1e-5, rtol: 1e-5)
        assertClose(together.v, separate.v, atol: 1e-5, rtol: 1e-5)

        try attention.kProj.attachLoRA(rank: 2, alpha: 4)
        try attention.packFusedInt8()
        XCTAssertNil(attention.fusedQKV, "a LoRA adapter must keep its layer out of the fused product")
    }

    /// A packed weight stored as its parts (int8 values, row scales, bias) and packed again computes bitwise what
    /// the original does, in one call for many weights; wrong parts are errors.
    func testPackingStoredPartsGivesTheSameProduct() throws {
        try LibTorch.manualSeed(12)
        let originals = [try Int8Linear(weight: try Tensor.randn([48, 80]), bias: try Tensor.randn([48])),
                         try Int8Linear(weight: try Tensor.randn([300, 80]) * 0.1, bias: nil),
                         try Int8Linear(weight: try Tensor.randn([7, 33]), bias: nil, reduceRange: true)]
        for reduceRange in [false, true] {
            let chosen = originals.filter { $0.reduceRange == reduceRange }
            let parts = try chosen.map { try $0.parts() }
            for (part, original) in zip(parts, chosen) {
                XCTAssertEqual(part.weight.dtype, .int8)
                XCTAssertEqual(part.weight.shape, [original.outputs, original.inputs])
                XCTAssertEqual(part.scales.dtype, .float64)
                XCTAssertEqual(part.scales.shape, [original.outputs])
            }
            let repacked = try Int8Linear.pack(parts, reduceRange: reduceRange)
            for (again, original) in zip(repacked, chosen) {
                XCTAssertEqual(again.reduceRange, reduceRange)
                for rows in [1, 9] {
                    let x = try Tensor.randn([rows, original.inputs]) * 4
                    XCTAssertEqual(try again(x).bytes(), try original(x).bytes())
                }
            }
        }
        let good = try originals[1].parts()
        XCTAssertThrowsError(try Int8Linear.pack([.init(weight: good.weight.to(.float32), scales: good.scales, bias: nil)],
                                                 reduceRange: false))
        XCTAssertThrowsError(try Int8Linear.pack([.init(weight: good.weight, scales: good.scales.to(.float32), bias: nil)],
                                                 reduceRange: false))
        XCTAssertThrowsError(try Int8Linear.pack([.init(weight: good.weight, scales: good.scales, bias: try Tensor.zeros([3]))],
                                                 reduceRange: false))
        XCTAssertEqual(try Int8Linear.pack([], reduceRange: false).count, 0)
        // Packed weights go where their shape fits.
        let linear = try Linear(80, 300)
        XCTAssertNoThrow(try linear.useInt8(originals[1]))
        XCTAssertThrowsError(try linear.useInt8(originals[0]))
    }

    func testLinearUsesInt8WithoutGradientsAndTheFloatWeightWithThem() throws {
        try LibTorch.manualSeed(5)
        let linear = try Linear(64, 32)
        let x = try Tensor.randn([3, 64])
        let exact = try withNoGrad { try linear(x) }
        try linear.quantizeInt8()
        let quantized = try withNoGrad { try linear(x) }
        XCTAssertGreaterThan(try (quantized - exact).abs().max().item(), 0)
        assertClose(quantized, exact, atol: 0.05 * (try exact.abs().max().item()), rtol: 0)
        // Training: grad mode on, so the float weight computes and the gradient reaches it.
        _ = try linear.weight.setRequiresGrad()
        let trained = try linear(x)
        assertClose(trained, exact, atol: 0, rtol: 0)
        try trained.sum().backward()
        XCTAssertNotNil(try linear.weight.grad)
        linear.dropInt8()
        assertClose(try withNoGrad { try linear(x) }, exact, atol: 0, rtol: 0)
    }

    func testBadShapesAndDtypesAreErrors() throws {
        XCTAssertThrowsError(try Int8Linear(weight: try Tensor.randn([2, 3, 4]), bias: nil))
        let packed = try Int8Linear(weight: try Tensor.randn([8, 16]), bias: nil)
        XCTAssertThrowsError(try packed(try Tensor.randn([2, 15]))) { error in
            XCTAssertTrue("\(error)".contains("last dimension"), "\(error)")
        }
        XCTAssertThrowsError(try packed(try Tensor.randn([2, 16]).to(.bfloat16))) { error in
            XCTAssertTrue("\(error)".contains("float32"), "\(error)")
        }
    }
}
