import Torch
import XCTest
import TestSupport

/// The mask-free two-pass attention of beacon steps against SDPA over the concatenation with a bottom-right mask.
final class MemoryWindowAttentionTests: XCTestCase {
    func testEqualsMaskedAttentionOverTheConcatenation() throws {
        try LibTorch.manualSeed(11)
        // Up to 8 query rows per K/V head take the decoding kernel on AVX-512 CPUs (a decoded token, or one with
        // its interleaved beacon: the step's own keys causally), the rest flash attention.
        for (heads, kvHeads, memory, length, dim) in [
            (4, 2, 37, 9, 16), (6, 6, 5, 1, 16), (9, 3, 0, 12, 16), (8, 2, 64, 33, 16),
            (9, 3, 1_100, 2, 64), (4, 2, 37, 4, 32), (6, 3, 0, 3, 16), (9, 3, 700, 1, 64),
        ] {
            let q = try Tensor.randn([1, heads, length, dim])
            let k = try Tensor.randn([1, kvHeads, memory + length, dim])
            let v = try Tensor.randn([1, kvHeads, memory + length, dim])
            let expected = try Functional.scaledDotProductAttention(q, k, v, causal: true)
            let windowKeys = try k.narrow(dim: 2, start: memory, length: length)
            let windowValues = try v.narrow(dim: 2, start: memory, length: length)
            let stored = memory == 0 ? nil : (keys: try k.narrow(dim: 2, start: 0, length: memory),
                                              values: try v.narrow(dim: 2, start: 0, length: memory))
            let got = try Functional.memoryWindowAttention(q, memory: stored, window: (windowKeys, windowValues))
            let label = "heads \(heads)/\(kvHeads) memory \(memory) length \(length) dim \(dim)"
            assertClose(got, expected, atol: 1e-5, rtol: 1e-5, label)
            // The memory in pieces (one empty), read where they lie.
            let cuts = [0, memory / 3, memory / 3, memory]
            let pieces = try zip(cuts, cuts.dropFirst()).map { start, end in
                (keys: try k.narrow(dim: 2, start: start, length: end - start),
                 values: try v.narrow(dim: 2, start: start, length: end - start))
            }
            let inPieces = try Functional.memoryWindowAttention(q, memorySegments: memory == 0 ? [] : pieces,
                                                                window: (windowKeys, windowValues))
            assertClose(inPieces, expected, atol: 1e-5, rtol: 1e-5, "in pieces, " + label)
        }
    }

    /// One decoded token over a memory of several chunks (the decoding kernel on AVX-512 CPUs), against attention
    /// written out as matmul → softmax → matmul in float64, for SmolLM2's head layout and others; the memory is a
    /// view into a larger buffer (as the beacon attend cache hands it out) and may be bfloat16.
    func testDecodingOverALongMemoryMatchesTheWrittenOutAttention() throws {
        try LibTorch.manualSeed(12)
        for (heads, kvHeads, headDim, memory, memoryType, tolerance) in [
            (9, 3, 64, 1_537, DType.float32, 2e-5), (9, 3, 64, 700, .bfloat16, 2e-5), (4, 4, 32, 1, .float32, 2e-5),
            (16, 2, 128, 513, .float32, 2e-5), (8, 1, 16, 2_048, .float32, 2e-5),
        ] {
            let label = "heads \(heads)/\(kvHeads) dim \(headDim) memory \(memory) \(memoryType)"
            let q = try Tensor.randn([1, heads, 1, headDim]) * 2
            let buffer = try (Tensor.randn([2, kvHeads, memory + 50, headDim]) * 2).to(memoryType)
            let values = try Tensor.randn([1, kvHeads, memory + 50, headDim]).to(memoryType)
            let stored = (keys: try buffer.narrow(dim: 0, start: 1, length: 1).narrow(dim: 2, start: 0, length: memory),
                          values: try values.narrow(dim: 2, start: 0, length: memory))
            let own = (keys: try Tensor.randn([1, kvHeads, 1, headDim]), values: try Tensor.randn([1, kvHeads, 1, headDim]))
            let window = (keys: try own.keys.to(memoryType), values: try own.values.to(memoryType))

            // Reference: float64, the K/V heads repeated for their query groups.
            let groups = heads / kvHeads
            func expand(_ t: Tensor) throws -> Tensor {
                try t.to(.float64).repeatInterleave(groups, dim: 1)
            }
            let keys = try expand(Tensor.cat([stored.keys, window.keys], dim: 2))
            let vals = try expand(Tensor.cat([stored.values, window.values], dim: 2))
            let scores = try q.to(.float64).matmul(keys.transpose(2, 3)) * (1 / Double(headDim).squareRoot())
            let expected = try scores.softmax(dim: -1).matmul(vals)

            let got = try Functional.memoryWindowAttention(q, memory: stored, window: window)
            assertClose(try got.to(.float64), expected, atol: tolerance, rtol: tolerance, "memory + window, \(label)")
            guard memoryType == .float32 else { continue }   // a plain cache is kept in the compute dtype
            let plain = try Functional.scaledDotProductAttention(q, Tensor.cat([stored.keys, window.keys], dim: 2),
                                                                 Tensor.cat([stored.values, window.values], dim: 2),
                                                                 causal: true)
            assertClose(try plain.to(.float64), expected, atol: tolerance, rtol: tolerance, "cache, \(label)")
        }
    }

    /// A window step's many query rows over a memory of several key blocks (the one-pass window kernel on AVX-512
    /// CPUs for float32 and head sizes 16–128): memory in pieces, one a bfloat16 view into a larger buffer, block
    /// and tile tails everywhere (rows not a multiple of 48, keys not of 8 or 128, a window past one key block so that
    /// causal blocks are skipped and masked), against attention written out in float64.
    func testAWindowStepOverALongMemoryMatchesTheWrittenOutAttention() throws {
        try LibTorch.manualSeed(13)
        for (heads, kvHeads, headDim, memory, length) in [
            (9, 3, 64, 1_001, 300), (4, 1, 128, 259, 17), (6, 2, 32, 0, 131), (3, 3, 16, 77, 50),
        ] {
            let label = "heads \(heads)/\(kvHeads) dim \(headDim) memory \(memory) length \(length)"
            let q = try Tensor.randn([1, heads, length, headDim]) * 2
            let keys = try Tensor.randn([1, kvHeads, memory, headDim]) * 2
            let values = try Tensor.randn([1, kvHeads, memory, headDim])
            // Pieces: float32 rows, then bfloat16 ones read from a wider buffer (the stored memory's dtype).
            let cut = memory / 2
            let wide = try Tensor.zeros([1, kvHeads, memory - cut + 9, headDim], dtype: .bfloat16)
            let wideValues = try Tensor.zeros([1, kvHeads, memory - cut + 9, headDim], dtype: .bfloat16)
            try wide.narrow(dim: 2, start: 0, length: memory - cut)
                .copyFrom(keys.narrow(dim: 2, start: cut, length: memory - cut).to(.bfloat16))
            try wideValues.narrow(dim: 2, start: 0, length: memory - cut)
                .copyFrom(values.narrow(dim: 2, start: cut, length: memory - cut).to(.bfloat16))
            let pieces = memory == 0 ? [] : [
                (keys: try keys.narrow(dim: 2, start: 0, length: cut), values: try values.narrow(dim: 2, start: 0, length: cut)),
                (keys: try wide.narrow(dim: 2, start: 0, length: memory - cut),
                 values: try wideValues.narrow(dim: 2, start: 0, length: memory - cut)),
            ]
            let window = (keys: try Tensor.randn([1, kvHeads, length, headDim]) * 2,
                          values: try Tensor.randn([1, kvHeads, length, headDim]))

            // Reference: float64 over the memory as the kernel sees it (bfloat16-rounded second half).
            let seenKeys = try Tensor.cat(pieces.map { try $0.keys.to(.float32) } + [window.keys], dim: 2)
            let seenValues = try Tensor.cat(pieces.map { try $0.values.to(.float32) } + [window.values], dim: 2)
            let groups = heads / kvHeads
            let k64 = try seenKeys.to(.float64).repeatInterleave(groups, dim: 1)
            let v64 = try seenValues.to(.float64).repeatInterleave(groups, dim: 1)
            let future = try Tensor.full([length, memory + length], -Double.infinity, dtype: .float64).triu(memory + 1)
            let scores = try q.to(.float64).matmul(k64.transpose(2, 3)) * (1 / Double(headDim).squareRoot()) + future
            let expected = try scores.softmax(dim: -1).matmul(v64)

            let got = try Functional.memoryWindowAttention(q, memorySegments: pieces, window: window)
            assertClose(try got.to(.float64), expected, atol: 2e-5, rtol: 2e-5, label)
        }
    }

    func testTheDecodingKernelRunsWhereTheCPUHasAVX512() {
        let avx512 = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" avx512f") ?? false
        XCTAssertEqual(Functional.decodeAttentionKernelAvailable, avx512)
    }
}
