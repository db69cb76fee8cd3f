import Foundation
import TestSupport
import Torch
import XCTest

/// The libtorch route — what tensors on a GPU take instead of the shim's CPU kernels — run on this CPU with the shim's
/// kernels switched off (`withLibTorchKernels`), against the shim's kernels: the same results, so the GPU path is
/// checked on every machine before it meets a GPU.
final class KernelRouteTests: XCTestCase {
    func testTheSwitchReachesTheShim() throws {
        guard Int8Linear.isSupported else { throw XCTSkip("no quantized engine in this libtorch") }
        let weight = try Tensor.randn([8, 16])
        XCTAssertNoThrow(try Int8Linear(weight: weight, bias: nil))
        // int8 weights exist on the shim's CPU route only: the libtorch route refuses them by name.
        XCTAssertThrowsError(try withLibTorchKernels { try Int8Linear(weight: weight, bias: nil) }) { error in
            XCTAssertTrue("\(error)".contains("int8 weights run on the CPU only"), "\(error)")
        }
    }

    func testFusedAdamWMatchesTheShimKernel() throws {
        try LibTorch.manualSeed(21)
        for dtype in [DType.float32, .bfloat16] {
            let start = try Tensor.randn([37, 19]).to(dtype)
            let grads = try (0..<4).map { _ in try Tensor.randn([37, 19]).to(dtype) }
            func run(_ route: (() throws -> Void) throws -> Void) throws -> Tensor {
                let p = try start.clone().setRequiresGrad()
                let optimizer = try AdamW(parameters: [("p", p)], hyperparameters: .init(learningRate: 1e-2, weightDecay: 0.1))
                for g in grads {
                    try p.setGrad(g)
                    try route { try optimizer.step(gradScale: 0.25) }
                }
                XCTAssertEqual(optimizer.stepCounts, ["p": grads.count])
                return p
            }
            let shim = try run { try $0() }
            let libtorch = try run { body in try withLibTorchKernels { try body() } }
            let tolerance = dtype == .float32 ? 1e-6 : 1e-2
            assertClose(libtorch, shim, atol: tolerance, rtol: 0, "\(dtype)")
            XCTAssertFalse(try libtorch.equals(start), "the libtorch route stepped")
        }
    }

    func testBeaconWindowAttentionMatchesTheShimKernels() throws {
        try LibTorch.manualSeed(22)
        for (heads, kvHeads, memory, length, dim) in [(4, 2, 37, 9, 16), (9, 3, 300, 1, 64), (6, 3, 0, 5, 32)] {
            let q = try Tensor.randn([1, heads, length, dim])
            let k = try Tensor.randn([1, kvHeads, memory + length, dim])
            let v = try Tensor.randn([1, kvHeads, memory + length, dim])
            let window = (try k.narrow(dim: 2, start: memory, length: length), try v.narrow(dim: 2, start: memory, length: length))
            let cuts = [0, memory / 2, memory]
            let segments = try zip(cuts, cuts.dropFirst()).map { start, end in
                (keys: try k.narrow(dim: 2, start: start, length: end - start),
                 values: try v.narrow(dim: 2, start: start, length: end - start))
            }.filter { $0.keys.dim(2) > 0 }
            let shim = try Functional.memoryWindowAttention(q, memorySegments: segments, window: window)
            let libtorch = try withLibTorchKernels {
                try Functional.memoryWindowAttention(q, memorySegments: segments, window: window)
            }
            assertClose(libtorch, shim, atol: 1e-5, rtol: 1e-5, "heads \(heads)/\(kvHeads) memory \(memory) length \(length)")
        }
    }

    func testElementwiseKernelsAndTheirGradientsMatch() throws {
        try LibTorch.manualSeed(23)
        let x = try Tensor.randn([2, 3, 5, 32]), weight = try Tensor.randn([32])
        let angles = try Tensor.randn([5, 32])
        let (cos, sin) = (try angles.cos(), try angles.sin())
        func outputs() throws -> [Tensor] {
            let input = try x.clone().setRequiresGrad()
            let norm = try Functional.rmsNorm(input, weight: weight, eps: 1e-6)
            let rotated = try Functional.applyRotary(input, cos: cos, sin: sin)
            let gated = try Functional.siluMul(input, try input * 0.5)
            try (norm.sum() + rotated.square().sum() + gated.sum()).backward()
            return [norm, rotated, gated, try input.grad!]
        }
        let shim = try outputs()
        let libtorch = try withLibTorchKernels { try outputs() }
        for (name, (a, b)) in zip(["rms norm", "rope", "silu·mul", "input gradient"], zip(libtorch, shim)) {
            assertClose(a, b, atol: 1e-5, rtol: 1e-5, name)
        }
    }

    func testLinearCrossEntropyAndItsGradientsMatch() throws {
        try LibTorch.manualSeed(24)
        let hidden = try Tensor.randn([11, 16]), weight = try Tensor.randn([50, 16])
        let targets = try Tensor([3, 7, -100, 0, 49, 1, 2, 3, -100, 8, 9].map(Int64.init))
        func run() throws -> [Tensor] {
            let h = try hidden.clone().setRequiresGrad(), w = try weight.clone().setRequiresGrad()
            let loss = try Functional.linearCrossEntropy(h, weight: w, targets: targets)
            try loss.backward()
            return [loss, try h.grad!, try w.grad!]
        }
        let shim = try run()
        let libtorch = try withLibTorchKernels { try run() }
        for (name, (a, b)) in zip(["loss", "hidden gradient", "weight gradient"], zip(libtorch, shim)) {
            assertClose(a, b, atol: 1e-4, rtol: 1e-5, name)
        }
    }
}
