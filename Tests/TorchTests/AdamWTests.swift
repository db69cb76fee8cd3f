import Foundation
import Torch
import XCTest
import TestSupport

/// AdamW against torch.optim.AdamW (fixture from Fixtures/adamw/make_adamw.py), and exact resume.
final class AdamWTests: XCTestCase {
    let fixture = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        .appendingPathComponent("adamw/adamw.safetensors")

    func hyperparameters(_ file: SafetensorsFile) -> AdamW.Hyperparameters {
        let m = file.metadata
        return .init(learningRate: Double(m["lr"]!)!, beta1: Double(m["beta1"]!)!, beta2: Double(m["beta2"]!)!,
                     eps: Double(m["eps"]!)!, weightDecay: Double(m["weight_decay"]!)!)
    }

    func testTenStepsMatchPyTorch() throws {
        let file = try SafetensorsFile(url: fixture)
        let params = try (0..<3).map { try file.tensor("init.\($0)").setRequiresGrad() }
        let optimizer = try AdamW(parameters: params.enumerated().map { ("p\($0.offset)", $0.element) },
                                  hyperparameters: hyperparameters(file))
        for step in 0..<10 {
            for (i, p) in params.enumerated() {
                try p.setGrad(file.entry("grad.\(step).\(i)") == nil ? nil : try file.tensor("grad.\(step).\(i)"))
            }
            try optimizer.step()
            for (i, p) in params.enumerated() {
                assertClose(p, try file.tensor("expected.\(step).\(i)"), atol: 1e-6, rtol: 0, "step \(step) param \(i)")
            }
        }
        // Parameter 1 had no gradient at step 3, so it took one step fewer (as torch's state says).
        XCTAssertEqual(optimizer.stepCounts, ["p0": 10, "p1": 9, "p2": 10])
    }

    func testSaveRestoreContinueIsBitwiseIdenticalToAnUninterruptedRun() throws {
        try LibTorch.manualSeed(3)
        let start = try Tensor.randn([5, 4])
        let grads = try (0..<8).map { _ in try Tensor.randn([5, 4]) }
        let h = AdamW.Hyperparameters(learningRate: 3e-2, weightDecay: 0.05)

        func run(_ p: Tensor, _ optimizer: AdamW, _ range: Range<Int>) throws {
            for s in range {
                try p.setGrad(grads[s])
                try optimizer.step()
            }
        }
        let straight = try start.clone().setRequiresGrad()
        try run(straight, try AdamW(parameters: [("w", straight)], hyperparameters: h), 0..<8)

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try start.clone().setRequiresGrad()
        let optimizer = try AdamW(parameters: [("w", first)], hyperparameters: h)
        try run(first, optimizer, 0..<5)
        try optimizer.save(to: dir.appendingPathComponent("opt.safetensors"))

        let resumed = try first.detach().clone().setRequiresGrad()
        let restored = try AdamW(parameters: [("w", resumed)], hyperparameters: h)
        try restored.load(from: dir.appendingPathComponent("opt.safetensors"))
        XCTAssertEqual(restored.stepCounts, ["w": 5])
        try run(resumed, restored, 5..<8)
        XCTAssertEqual(try resumed.bytes(), try straight.bytes(), "resumed run differs from the uninterrupted one")
    }

    func testRestoringStateForOtherParametersFails() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("opt.safetensors")
        try AdamW(parameters: [("a", try Tensor.zeros([2]))]).save(to: url)
        XCTAssertThrowsError(try AdamW(parameters: [("b", try Tensor.zeros([2]))]).load(from: url)) { error in
            XCTAssertTrue("\(error)".contains("other parameters"), "\(error)")
        }
        XCTAssertThrowsError(try AdamW(parameters: [("a", try Tensor.zeros([3]))]).load(from: url)) { error in
            XCTAssertTrue("\(error)".contains("exp_avg.a"), "\(error)")
        }
    }

    func testNoDecayGroupSkipsWeightDecay() throws {
        // With a zero gradient and no decay the parameter stays put; with decay it shrinks by lr·wd.
        let decayed = try Tensor.ones([2]).setRequiresGrad(), kept = try Tensor.ones([2]).setRequiresGrad()
        let optimizer = try AdamW(parameters: [("w", decayed), ("norm.weight", kept)],
                                  hyperparameters: .init(learningRate: 0.1, weightDecay: 0.5),
                                  noDecay: { $0.hasSuffix("norm.weight") })
        try decayed.setGrad(try Tensor.zeros([2]))
        try kept.setGrad(try Tensor.zeros([2]))
        try optimizer.step()
        assertClose(decayed, [0.95, 0.95])
        assertClose(kept, [1, 1])
    }
    /// The fused kernel on a tensor long enough for its vector loop, its scalar tail and several work slices, with a
    /// gradient scale, against torch's single-tensor formula written out as separate float64 ops.
    func testFusedStepWithAGradScaleMatchesTheFormula() throws {
        try LibTorch.manualSeed(5)
        let shapes = [[70_001], [3, 17]]
        let params = try shapes.map { try Tensor.randn($0).setRequiresGrad() }
        let h = AdamW.Hyperparameters(learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        let optimizer = try AdamW(parameters: params.enumerated().map { ("p\($0.offset)", $0.element) }, hyperparameters: h)
        var reference = try params.map { try $0.detach().to(.float64) }
        var avg = try shapes.map { try Tensor.zeros($0, dtype: .float64) }
        var avgSq = try shapes.map { try Tensor.zeros($0, dtype: .float64) }
        let scale = 0.25
        for step in 1...3 {
            let grads = try shapes.map { try Tensor.randn($0) }
            for (p, g) in zip(params, grads) { try p.setGrad(g) }
            try optimizer.step(gradScale: scale)
            let stepSize = h.learningRate / (1 - pow(h.beta1, Double(step)))
            let correction = (1 - pow(h.beta2, Double(step))).squareRoot()
            for i in params.indices {
                let g = try grads[i].to(.float64) * scale
                reference[i] = try reference[i] * (1 - h.learningRate * h.weightDecay)
                avg[i] = try avg[i] + (g - avg[i]) * (1 - h.beta1)
                avgSq[i] = try avgSq[i] * h.beta2 + g * g * (1 - h.beta2)
                let denom = try avgSq[i].sqrt() / correction + h.eps
                reference[i] = try reference[i] - avg[i] / denom * stepSize
                assertClose(params[i], try reference[i].to(.float32), atol: 1e-6, rtol: 1e-5, "step \(step) param \(i)")
                // The gradient itself is left as backward wrote it.
                XCTAssertEqual(try params[i].grad!.bytes(), try grads[i].bytes())
            }
        }
    }

    /// bfloat16 parameters are updated in float32 and rounded once (to nearest even): one step equals the float32
    /// step of the same values, rounded. A NaN gradient gives a NaN parameter, not an infinity.
    func testBFloat16ParametersAreUpdatedInFloat32AndRoundedOnce() throws {
        try LibTorch.manualSeed(6)
        let start = try Tensor.randn([1_000]).to(.bfloat16)
        let grad = try Tensor.randn([1_000]).to(.bfloat16)
        let h = AdamW.Hyperparameters(learningRate: 0.05, weightDecay: 0.1)
        let narrow = try start.clone().setRequiresGrad(), wide = try start.to(.float32).setRequiresGrad()
        try narrow.setGrad(grad)
        try wide.setGrad(try grad.to(.float32))
        try AdamW(parameters: [("w", narrow)], hyperparameters: h).step(gradScale: 0.5)
        try AdamW(parameters: [("w", wide)], hyperparameters: h).step(gradScale: 0.5)
        XCTAssertEqual(try narrow.bytes(), try wide.to(.bfloat16).bytes())

        var values = try grad.to(.float32).toArray(Float.self)
        values[17] = .nan
        try narrow.setGrad(try Tensor(values.map(Double.init), shape: [1_000]).to(.bfloat16))
        try AdamW(parameters: [("w", narrow)], hyperparameters: h).step()
        let updated = try narrow.to(.float32).toArray(Float.self)
        XCTAssertTrue(updated[17].isNaN, "\(updated[17])")
        XCTAssertTrue(updated.enumerated().allSatisfy { $0.offset == 17 || $0.element.isFinite })
    }

    /// A gradient of the wrong shape is refused before any parameter moves.
    func testAMismatchedGradientIsRefusedBeforeAnyUpdate() throws {
        let first = try Tensor.ones([3]).setRequiresGrad(), second = try Tensor.ones([2]).setRequiresGrad()
        let optimizer = try AdamW(parameters: [("a", first), ("b", second)])
        try first.setGrad(try Tensor.ones([3]))
        try second.setGrad(try Tensor.ones([2]).to(.float64))
        XCTAssertThrowsError(try optimizer.step()) { error in
            XCTAssertTrue("\(error)".contains("parameter 1"), "\(error)")
        }
        assertClose(first, [1, 1, 1])
        XCTAssertEqual(optimizer.stepCounts, ["a": 0, "b": 0])
    }
}
