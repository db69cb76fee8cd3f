import TestSupport
import Torch
import XCTest

/// The chunked head-and-loss operation against the composed `crossEntropy(linear(h, W))`, computed in float64:
/// the summed loss and the gradients of both inputs, with ignored targets and chunks that do not divide the rows.
final class LinearCrossEntropyTests: XCTestCase {
    override func setUp() { try? LibTorch.manualSeed(5) }

    private func reference(_ h: Tensor, _ w: Tensor, _ targets: Tensor) throws -> (loss: Tensor, dh: Tensor, dw: Tensor) {
        let h64 = try h.detach().to(.float64).setRequiresGrad(), w64 = try w.detach().to(.float64).setRequiresGrad()
        let loss = try Functional.crossEntropy(try Functional.linear(h64, weight: w64), targets: targets, reduction: .sum)
        try loss.backward()
        return (try loss.detach(), try XCTUnwrap(h64.grad), try XCTUnwrap(w64.grad))
    }

    func testLossAndGradientsMatchTheComposedOps() throws {
        let (rows, dims, vocab) = (37, 24, 203)  // vocab leaves a vector remainder
        var targetValues = (0..<rows).map { Int64(($0 * 31) % vocab) }
        targetValues[3] = -100
        targetValues[20] = -100
        let targets = try Tensor(targetValues)
        for chunk in [0, 5, 37, 100] {
            let h = try (Tensor.randn([rows, dims]) * 2).setRequiresGrad()
            let w = try Tensor.randn([vocab, dims]).setRequiresGrad()
            let loss = try Functional.linearCrossEntropy(h, weight: w, targets: targets, chunkRows: chunk)
            XCTAssertEqual(loss.dtype, .float32)
            try (loss * 0.5).backward()  // the saved gradients are scaled by the incoming one
            let expected = try reference(h, w, targets)
            assertClose(try loss.detach().to(.float64), expected.loss, atol: 1e-3, rtol: 1e-5)
            assertClose(try XCTUnwrap(h.grad).to(.float64), try expected.dh * 0.5, atol: 1e-5, rtol: 1e-4)
            assertClose(try XCTUnwrap(w.grad).to(.float64), try expected.dw * 0.5, atol: 1e-5, rtol: 1e-4)
            XCTAssertEqual(try XCTUnwrap(h.grad).select(dim: 0, index: 3).abs().sum().item(), 0, "ignored row")
        }
    }

    func testFrozenWeightGetsNoGradientAndNoGradModeOnlyComputesTheLoss() throws {
        let h = try Tensor.randn([9, 8]).setRequiresGrad()
        let w = try Tensor.randn([50, 8])
        let targets = try Tensor((0..<9).map { Int64($0 * 5) })
        let loss = try Functional.linearCrossEntropy(h, weight: w, targets: targets, chunkRows: 4)
        try loss.backward()
        XCTAssertNil(try w.grad)
        let expected = try reference(h, w, targets)
        assertClose(try XCTUnwrap(h.grad).to(.float64), expected.dh, atol: 1e-5, rtol: 1e-4)
        let unrecorded = try withNoGrad { try Functional.linearCrossEntropy(h, weight: w, targets: targets) }
        XCTAssertFalse(unrecorded.requiresGrad)
        assertClose(try unrecorded.to(.float64), expected.loss, atol: 1e-4, rtol: 1e-5)
    }

    func testBFloat16AndFloat64() throws {
        let h = try Tensor.randn([6, 16]), w = try Tensor.randn([40, 16])
        let targets = try Tensor((0..<6).map { Int64($0 * 6) })
        let expected = try reference(h, w, targets).loss
        let bf16 = try Functional.linearCrossEntropy(try h.to(.bfloat16), weight: try w.to(.bfloat16), targets: targets)
        XCTAssertEqual(bf16.dtype, .float32)
        assertClose(try bf16.to(.float64), expected, atol: 0.5, rtol: 0.02)
        let f64 = try Functional.linearCrossEntropy(try h.to(.float64), weight: try w.to(.float64), targets: targets)
        assertClose(try f64.to(.float64), expected, atol: 1e-4)
    }

    func testRefusesTargetsOutsideTheVocabularyAndBadShapes() throws {
        let h = try Tensor.randn([2, 4]), w = try Tensor.randn([10, 4])
        XCTAssertThrowsError(try Functional.linearCrossEntropy(h, weight: w, targets: try Tensor([1, 10] as [Int64]))) {
            XCTAssertTrue("\($0)".contains("outside the vocabulary"), "\($0)")
        }
        XCTAssertThrowsError(try Functional.linearCrossEntropy(h, weight: try Tensor.randn([10, 5]), targets: try Tensor([1, 2] as [Int64])))
    }
}
