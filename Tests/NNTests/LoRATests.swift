import NN
import TestSupport
import Torch
import XCTest

final class LoRATests: XCTestCase {
    func testAdapterStartsAtZeroComputesTheLowRankUpdateAndMerges() throws {
        try LibTorch.manualSeed(3)
        let linear = try Linear(6, 5, bias: true)
        try withNoGrad { try linear.bias!.copyFrom(Tensor.randn([5])) }
        let x = try Tensor.randn([2, 3, 6])
        let base = try linear(x)
        try linear.attachLoRA(rank: 2, alpha: 3)
        XCTAssertEqual(linear.parameters().map(\.name), ["weight", "bias", "lora_A.weight", "lora_B.weight"])
        XCTAssertTrue(try linear(x).equals(base), "B = 0: the adapter starts as a no-op")

        // With a non-zero B the output is x Wᵀ + b + (alpha/rank) · x Aᵀ Bᵀ, computed here by hand.
        try withNoGrad { try linear.loraB!.weight.copyFrom(Tensor.randn([5, 2])) }
        let a = linear.loraA!.weight, b = linear.loraB!.weight
        let expected = try x.matmul(linear.weight.transpose(0, 1)) + linear.bias!
            + x.matmul(a.transpose(0, 1)).matmul(b.transpose(0, 1)) * 1.5
        let adapted = try linear(x)
        assertClose(adapted, expected, atol: 1e-5)
        XCTAssertFalse(try adapted.equals(base))

        try linear.mergeLoRA()
        XCTAssertEqual(linear.parameters().map(\.name), ["weight", "bias"])
        assertClose(try linear(x), adapted, atol: 1e-5)
    }

    func testLinearsAreFoundByKeyOutsideTheAdapters() throws {
        let attention = try Attention(dims: 16, heads: 4, kvHeads: 2)
        XCTAssertEqual(attention.linears(named: ["q_proj", "v_proj"]).map(\.path), ["q_proj", "v_proj"])
        try attention.qProj.attachLoRA(rank: 2, alpha: 2)
        XCTAssertEqual(attention.linears(named: ["q_proj", "lora_A"]).map(\.path), ["q_proj"])
    }
}
