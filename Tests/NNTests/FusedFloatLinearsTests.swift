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
            // An in-place change of a weight is seen by the next call.
            try layers[1].weight.mulInPlace(2)
            assertClose(try XCTUnwrap(FusedFloatLinears.outputs(layers, x))[1], try layers[1](x), atol: 1e-5)
        }
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
