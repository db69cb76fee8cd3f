import Torch
import XCTest
import TestSupport

/// The mask-free two-pass attention of beacon steps against SDPA over the concatenation with a bottom-right mask.
final class MemoryWindowAttentionTests: XCTestCase {
    func testEqualsMaskedAttentionOverTheConcatenation() throws {
        try LibTorch.manualSeed(11)
        for (heads, kvHeads, memory, length) in [(4, 2, 37, 9), (6, 6, 5, 1), (9, 3, 0, 12), (8, 2, 64, 33)] {
            let q = try Tensor.randn([1, heads, length, 16])
            let k = try Tensor.randn([1, kvHeads, memory + length, 16])
            let v = try Tensor.randn([1, kvHeads, memory + length, 16])
            let expected = try Functional.scaledDotProductAttention(q, k, v, causal: true)
            let windowKeys = try k.narrow(dim: 2, start: memory, length: length)
            let windowValues = try v.narrow(dim: 2, start: memory, length: length)
            let stored = memory == 0 ? nil : (keys: try k.narrow(dim: 2, start: 0, length: memory),
                                              values: try v.narrow(dim: 2, start: 0, length: memory))
            let got = try Functional.memoryWindowAttention(q, memory: stored, window: (windowKeys, windowValues))
            assertClose(got, expected, atol: 1e-5, rtol: 1e-5, "heads \(heads)/\(kvHeads) memory \(memory) length \(length)")
        }
    }
}
