import NN
import TestSupport
import Torch
import XCTest

/// q/k/v and gate/up as one product over concatenated weights: the same outputs as separate layers.
final class FusedFloatLinearsTests: XCTestCase {
    func testOneProductGivesEachLayersOutput() throws {
        try LibTorch.manualSeed(11)
        let layers = try [Linear(48, 32, bias: true), Linear(48, 16, bias: true), Linear(48, 16, bias: true)]
        for layer in layers { try withNoGrad { try layer.bias!.copyFrom(Tensor.randn([layer.weight.dim(0)])) } }
        let x = try Tensor.randn([1, FusedFloatLinears.minimumRows + 3, 48])
        try withNoGrad {
            let fused = try XCTUnwrap(FusedFloatLinears.outputs(layers, x))
            for (a, layer) in zip(fused, layers) { assertClose(a, try layer(x), atol: 1e-5) }
            // The first call moved the weights into one buffer: later calls read them there, without a copy.
            XCTAssertNotNil(try Tensor.adjacentRowsView(layers.map(\.weight)))
            // An in-place change of a weight is seen by the next call.
            try layers[1].weight.mulInPlace(2)
            assertClose(try XCTUnwrap(FusedFloatLinears.outputs(layers, x))[1], try layers[1](x), atol: 1e-5)
            // A replaced weight is moved in again.
            layers[2].weight = try Tensor.randn([16, 48])
            XCTAssertNil(try Tensor.adjacentRowsView(layers.map(\.weight)))
            let again = try XCTUnwrap(FusedFloatLinears.outputs(layers, x))
            for (a, layer) in zip(again, layers) { assertClose(a, try layer(x), atol: 1e-5) }
            XCTAssertNotNil(try Tensor.adjacentRowsView(layers.map(\.weight)))
        }
    }

    func testWeightsThatTrainAreNotMoved() throws {
        let pair = try [Linear(8, 4, bias: false), Linear(8, 4, bias: false)]
        try pair[0].weight.setRequiresGrad()
        let x = try Tensor.randn([1, FusedFloatLinears.minimumRows, 8])
        try withNoGrad {
            let fused = try XCTUnwrap(FusedFloatLinears.outputs(pair, x))
            for (a, layer) in zip(fused, pair) { assertClose(a, try layer(x), atol: 1e-5) }
        }
        XCTAssertNil(try Tensor.adjacentRowsView(pair.map(\.weight)))
        XCTAssertTrue(pair[0].weight.requiresGrad)
    }

    func testAdjacentRowsViewNeedsConsecutiveRowsOfOneBuffer() throws {
        let block = try Tensor.randn([10, 3])
        let a = try block.narrow(dim: 0, start: 0, length: 4), b = try block.narrow(dim: 0, start: 4, length: 6)
        let view = try XCTUnwrap(Tensor.adjacentRowsView([a, b]))
        XCTAssertEqual(view.shape, [10, 3])
        assertClose(view, block, atol: 0)
        XCTAssertNil(try Tensor.adjacentRowsView([b, a]), "out of order")
        XCTAssertNil(try Tensor.adjacentRowsView([a, try block.narrow(dim: 0, start: 5, length: 5)]), "a gap")
        XCTAssertNil(try Tensor.adjacentRowsView([a, try Tensor.randn([6, 3])]), "another buffer")
    }

    func testFewRowsGradientsAdaptersAndMixedBiasesRunSeparately() throws {
        let pair = try [Linear(8, 4, bias: false), Linear(8, 4, bias: false)]
        let many = try Tensor.randn([1, FusedFloatLinears.minimumRows, 8])
        try withNoGrad {
            XCTAssertNil(try FusedFloatLinears.outputs(pair, try Tensor.randn([1, FusedFloatLinears.minimumRows - 1, 8])))
            XCTAssertNotNil(try FusedFloatLinears.outputs(pair, many))
            XCTAssertNil(try FusedFloatLinears.outputs([Linear(8, 4, bias: true), Linear(8, 4, bias: false)], many))
        }
        XCTAssertNil(try FusedFloatLinears.outputs(pair, many), "recording gradients: separate products")
        try pair[1].attachLoRA(rank: 2, alpha: 2)
        try withNoGrad {
            XCTAssertNil(try FusedFloatLinears.outputs(pair, many), "the packed product would leave the adapter out")
        }
    }
}
