import Torch
import XCTest
import TestSupport

/// Hand-computed cases: each expected value below is worked out by hand (or by an identity), not by libtorch.
final class OpsTests: XCTestCase {
    func testMatmulHandComputed() throws {
        // [[1 2 3] [4 5 6]] · [[7 8] [9 10] [11 12]] = [[58 64] [139 154]]
        let a = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let b = try Tensor([7, 8, 9, 10, 11, 12] as [Float], shape: [3, 2])
        assertClose(try a.matmul(b), [58, 64, 139, 154], shape: [2, 2])
        // Batched: the same product twice, and bmm agrees with matmul.
        let a2 = try Tensor.stack([a, a]), b2 = try Tensor.stack([b, b])
        assertClose(try a2.bmm(b2), [58, 64, 139, 154, 58, 64, 139, 154], shape: [2, 2, 2])
        // linear(x, W, b) = x Wᵀ + b
        let w = try b.transpose(0, 1).contiguous()
        let bias = try Tensor([1, -1] as [Float])
        assertClose(try Functional.linear(a, weight: w, bias: bias), [59, 63, 140, 153], shape: [2, 2])
    }

    func testSoftmaxHandComputed() throws {
        // softmax([0, ln 2, ln 5]) = [1, 2, 5] / 8
        let x = try Tensor([0, Foundation.log(2), Foundation.log(5)] as [Double])
        assertClose(try x.softmax(dim: 0), [0.125, 0.25, 0.625], atol: 1e-12)
        assertClose(try x.logSoftmax(dim: 0), [Foundation.log(0.125), Foundation.log(0.25), Foundation.log(0.625)], atol: 1e-12)
        // Invariant to a shift, rows independent.
        let rows = try Tensor([1, 2, 3, 101, 102, 103] as [Double], shape: [2, 3]).softmax(dim: 1)
        assertClose(try rows.select(dim: 0, index: 0), try rows.select(dim: 0, index: 1), atol: 1e-12)
    }

    func testCrossEntropyHandComputedWithIgnoreIndex() throws {
        // Row 0: logits [0, ln 3] target 1 → −log(3/4). Row 1: [ln 2, 0] target 0 → −log(2/3). Row 2 ignored.
        let logits = try Tensor([0, Foundation.log(3), Foundation.log(2), 0, 5, -5] as [Double], shape: [3, 2])
        let targets = try Tensor([1, 0, -100] as [Int64])
        let expected = (-Foundation.log(0.75) - Foundation.log(2.0 / 3.0)) / 2
        let mean = try Functional.crossEntropy(logits, targets: targets)
        XCTAssertEqual(try mean.item(), expected, accuracy: 1e-12)
        let sum = try Functional.crossEntropy(logits, targets: targets, reduction: .sum)
        XCTAssertEqual(try sum.item(), expected * 2, accuracy: 1e-12)
        let each = try Functional.crossEntropy(logits, targets: targets, reduction: .none)
        assertClose(each, [-Foundation.log(0.75), -Foundation.log(2.0 / 3.0), 0], atol: 1e-12)
    }

    func testElementwiseAndBroadcasting() throws {
        let a = try Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let row = try Tensor([10, 20, 30] as [Float])
        assertClose(try a + row, [11, 22, 33, 14, 25, 36])
        assertClose(try a * 2 - 1, [1, 3, 5, 7, 9, 11])
        assertClose(try 1 - a, [0, -1, -2, -3, -4, -5])
        assertClose(try 12 / a, [12, 6, 4, 3, 2.4, 2], atol: 1e-6)
        assertClose(try -a, [-1, -2, -3, -4, -5, -6])
        assertClose(try a.pow(2), [1, 4, 9, 16, 25, 36])
        assertClose(try a.clamp(min: 2, max: 5), [2, 2, 3, 4, 5, 5])
        XCTAssertEqual(try a.gt(3).toArray(Bool.self), [false, false, false, true, true, true])
        assertClose(try Tensor.where(try a.gt(3), a, try Tensor.zeros([2, 3])), [0, 0, 0, 4, 5, 6])
        assertClose(try a.maskedFill(try a.eq(2), -1), [1, -1, 3, 4, 5, 6])
        // silu(x) = x·σ(x); gelu(0) = 0, gelu(x) ≈ x for large x.
        let x = try Tensor([-1, 0, 2] as [Double])
        assertClose(try x.silu(), [-1 / (1 + M_E), 0, 2 / (1 + Foundation.exp(-2))], atol: 1e-12)
        assertClose(try Tensor([0, 10] as [Double]).gelu(), [0, 10], atol: 1e-12)
        XCTAssertThrowsError(try a + Tensor([1, 2] as [Float]))
    }

    func testReductions() throws {
        let a = try Tensor([1, 2, 3, 4, 5, 6] as [Double], shape: [2, 3])
        XCTAssertEqual(try a.sum().item(), 21)
        assertClose(try a.sum(dim: 0), [5, 7, 9])
        assertClose(try a.mean(dim: 1, keepDim: true), [2, 5], shape: [2, 1])
        assertClose(try a.max(dims: [1]), [3, 6])
        XCTAssertEqual(try a.argmax(dim: 1).toArray(Int.self), [2, 2])
        let (values, indices) = try a.max(dim: 0)
        assertClose(values, [4, 5, 6])
        XCTAssertEqual(try indices.toArray(Int.self), [1, 1, 1])
        assertClose(try a.variance(dims: [1]), [2.0 / 3, 2.0 / 3], atol: 1e-12)
        XCTAssertEqual(try a.norm().item(), Foundation.sqrt(91), accuracy: 1e-12)
        // logsumexp([1, 2, 3]) = 3 + log(1 + e⁻¹ + e⁻²); the second row is 3 more.
        let lse: Double = 3 + Foundation.log(1 + Foundation.exp(-1.0) + Foundation.exp(-2.0))
        assertClose(try a.logSumExp(dims: [1]), [lse, lse + 3], atol: 1e-12)
        assertClose(try a.prod(dims: [0, 1]), [720], shape: [])
        XCTAssertEqual(try a.gt(5).any().toArray(Bool.self), [true])
        XCTAssertEqual(try a.gt(0).all().toArray(Bool.self), [true])
        let (top, topIndex) = try a.topk(2, dim: 1)
        assertClose(top, [3, 2, 6, 5])
        XCTAssertEqual(try topIndex.toArray(Int.self), [2, 1, 2, 1])
        assertClose(try a.cumsum(dim: 1), [1, 3, 6, 4, 9, 15])
    }

    func testViewsAndShapes() throws {
        let a = try Tensor.arange(24, dtype: .float32).reshape(2, 3, 4)
        XCTAssertEqual(a.shape, [2, 3, 4])
        XCTAssertEqual(try a.permute(2, 0, 1).shape, [4, 2, 3])
        XCTAssertEqual(try a.transpose(0, 2).shape, [4, 3, 2])
        XCTAssertFalse(try a.transpose(0, 2).isContiguous)
        XCTAssertTrue(try a.transpose(0, 2).contiguous().isContiguous)
        assertClose(try a.slice(dim: 2, start: 1, end: 3).select(dim: 0, index: 0).select(dim: 0, index: 0), [1, 2])
        assertClose(try a.slice(dim: 2, start: -1).flatten(), [3, 7, 11, 15, 19, 23])
        assertClose(try a.narrow(dim: 1, start: 2, length: 1).flatten(), [8, 9, 10, 11, 20, 21, 22, 23])
        XCTAssertEqual(try Tensor.cat([a, a], dim: 1).shape, [2, 6, 4])
        XCTAssertEqual(try Tensor.stack([a, a], dim: 0).shape, [2, 2, 3, 4])
        XCTAssertEqual(try a.split(size: 3, dim: 2).map(\.shape), [[2, 3, 3], [2, 3, 1]])
        XCTAssertEqual(try a.unsqueeze(1).shape, [2, 1, 3, 4])
        XCTAssertEqual(try a.unsqueeze(1).squeeze(1).shape, [2, 3, 4])
        XCTAssertEqual(try Tensor.ones([1, 3]).expand([4, 3]).shape, [4, 3])
        assertClose(try Tensor([1, 2] as [Float]).tiled([2]), [1, 2, 1, 2])
        assertClose(try Tensor([1, 2] as [Float]).repeatInterleave(2, dim: 0), [1, 1, 2, 2])
        XCTAssertEqual(try a.reshape(-1, 4).shape, [6, 4])
        XCTAssertThrowsError(try a.reshape(5, 5))
    }

    func testIndexing() throws {
        let a = try Tensor([10, 11, 12, 13, 14, 15] as [Float], shape: [3, 2])
        assertClose(try a.indexSelect(dim: 0, try Tensor([2, 0] as [Int64])), [14, 15, 10, 11])
        assertClose(try a.gather(dim: 1, try Tensor([1, 0, 0] as [Int64], shape: [3, 1])), [11, 12, 14], shape: [3, 1])
        let scattered = try Tensor.zeros([3]).scatter(dim: 0, try Tensor([2, 0] as [Int64]), try Tensor([5, 7] as [Float]))
        assertClose(scattered, [7, 0, 5])
        let added = try Tensor.ones([3]).scatter(dim: 0, try Tensor([1, 1] as [Int64]), try Tensor([5, 7] as [Float]), accumulate: true)
        assertClose(added, [1, 13, 1])
        let put = try Tensor.zeros([3, 2]).indexPut(try Tensor([false, true, false]), try Tensor([9, 9] as [Float]))
        assertClose(put, [0, 0, 9, 9, 0, 0])
        XCTAssertEqual(try Tensor([0, 3, 0, 4] as [Float]).nonzero().toArray(Int.self), [1, 3])
        let weight = try Tensor.arange(12, dtype: .float32).reshape(4, 3)
        assertClose(try Functional.embedding(try Tensor([3, 0] as [Int64]), weight: weight), [9, 10, 11, 0, 1, 2])
    }

    func testCreationAndTriangles() throws {
        assertClose(try Tensor.arange(1, 7, step: 2, dtype: .float32), [1, 3, 5])
        assertClose(try Tensor.full([2], 3.5), [3.5, 3.5])
        let ones = try Tensor.ones([3, 3])
        assertClose(try ones.triu(), [1, 1, 1, 0, 1, 1, 0, 0, 1])
        assertClose(try ones.tril(-1), [0, 0, 0, 1, 0, 0, 1, 1, 0])
        let r = try Tensor.randint(3, 7, [1000]).toArray(Int.self)
        XCTAssertEqual(Set(r), [3, 4, 5, 6])
        let u = try Tensor.rand([10000]).toArray(Float.self)
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(Double(u.reduce(0, +)) / 10000, 0.5, accuracy: 0.02)
    }

    func testEveryDTypeRoundTripsThroughSwiftBuffers() throws {
        XCTAssertEqual(try Tensor([1.5, -2, 3] as [Float]).toArray(Float.self), [1.5, -2, 3])
        XCTAssertEqual(try Tensor([1.5, -2, 3] as [Double]).toArray(Double.self), [1.5, -2, 3])
        XCTAssertEqual(try Tensor([Int64.max, -1] as [Int64]).toArray(Int64.self), [Int64.max, -1])
        XCTAssertEqual(try Tensor([Int32.min, 7] as [Int32]).toArray(Int32.self), [Int32.min, 7])
        XCTAssertEqual(try Tensor([0, 255] as [UInt8]).toArray(UInt8.self), [0, 255])
        XCTAssertEqual(try Tensor([true, false] as [Bool]).toArray(Bool.self), [true, false])
        XCTAssertEqual(try Tensor([1.5, -2] as [Float16]).toArray(Float16.self), [1.5, -2])
        // bf16 keeps 8 significant bits: 1.5 and -2 are exact, 1/3 rounds to 0.333984375.
        let bf = try Tensor([1.5, -2, 1.0 / 3] as [Float]).to(.bfloat16)
        XCTAssertEqual(bf.dtype, .bfloat16)
        XCTAssertEqual(try bf.toArray(Float.self), [1.5, -2, 0.333984375])
        XCTAssertEqual(try bf.bytes(), [0xC0, 0x3F, 0x00, 0xC0, 0xAB, 0x3E])
        let fromBits = try [UInt8]([0xC0, 0x3F]).withUnsafeBytes { try Tensor(bytes: $0, dtype: .bfloat16, shape: [1]) }
        XCTAssertEqual(try fromBits.toArray(Float.self), [1.5])
        XCTAssertEqual(try Tensor(scalar: 2.5 as Double).shape, [])
        XCTAssertThrowsError(try Tensor([1, 2, 3] as [Float], shape: [2, 2]))
    }

    func testScaledDotProductAttentionMatchesTheFormula() throws {
        try LibTorch.manualSeed(1)
        let q = try Tensor.randn([2, 3, 4, 8], dtype: .float64)
        let k = try Tensor.randn([2, 3, 6, 8], dtype: .float64)
        let v = try Tensor.randn([2, 3, 6, 8], dtype: .float64)
        // Causal with more keys than queries: query i sees keys 0 ... 2 + i (bottom-right alignment).
        let allowed = try Tensor.ones([4, 6], dtype: .bool).tril(2)
        let scores = try q.matmul(k.transpose(-2, -1)) / Foundation.sqrt(8.0)
        let manual = try scores.maskedFill(allowed.logicalNot(), -Double.infinity).softmax(dim: -1).matmul(v)
        assertClose(try Functional.scaledDotProductAttention(q, k, v, causal: true), manual, atol: 1e-12)
        assertClose(try Functional.scaledDotProductAttention(q, k, v, mask: allowed), manual, atol: 1e-12)
        // An additive float mask and an explicit scale.
        let additive = try Tensor.zeros([4, 6], dtype: .float64).maskedFill(allowed.logicalNot(), -1e9)
        let scaled = try (q.matmul(k.transpose(-2, -1)) * 0.5 + additive).softmax(dim: -1).matmul(v)
        assertClose(try Functional.scaledDotProductAttention(q, k, v, mask: additive, scale: 0.5), scaled, atol: 1e-12)
    }

    func testRandomStateRestoresTheStream() throws {
        try LibTorch.manualSeed(42)
        let first = try Tensor.randn([5]).toArray(Float.self)
        try LibTorch.manualSeed(42)
        XCTAssertEqual(try Tensor.randn([5]).toArray(Float.self), first)
        let state = try LibTorch.rngState()
        let next = try Tensor.rand([7]).toArray(Float.self)
        _ = try Tensor.rand([100])
        try LibTorch.setRNGState(state)
        XCTAssertEqual(try Tensor.rand([7]).toArray(Float.self), next)
    }

    /// Items run side by side on their share of the intra-op threads, come back in order, and the thread count is
    /// the process's again afterwards, after an error too.
    func testSplittingThreadsRunsEachItemOnItsShareAndRestoresTheCount() throws {
        let original = LibTorch.numThreads
        defer { try? LibTorch.setNumThreads(original) }
        try LibTorch.setNumThreads(2)
        let results = try LibTorch.splittingThreads(count: 5) { i in
            (threads: LibTorch.numThreads, sum: try withNoGrad { try Tensor.arange(0, Double(i + 1)).sum().item() })
        }
        XCTAssertEqual(results.map(\.threads), Array(repeating: 1, count: 5))
        XCTAssertEqual(results.map(\.sum), [0, 1, 3, 6, 10])
        XCTAssertEqual(LibTorch.numThreads, 2)
        XCTAssertThrowsError(try LibTorch.splittingThreads(count: 3) { i -> Int in
            if i == 1 { throw TorchError("item 1 failed") }
            return i
        }) { XCTAssertTrue("\($0)".contains("item 1 failed"), "\($0)") }
        XCTAssertEqual(LibTorch.numThreads, 2)
        XCTAssertEqual(try LibTorch.splittingThreads(count: 1) { _ in LibTorch.numThreads }, [2], "one item keeps every thread")
    }

    func testThreadCountAndVersion() throws {
        let original = LibTorch.numThreads
        try LibTorch.setNumThreads(1)
        XCTAssertEqual(LibTorch.numThreads, 1)
        try LibTorch.setNumThreads(original)
        XCTAssertThrowsError(try LibTorch.setNumThreads(0))
        XCTAssertTrue(LibTorch.version.first == "1" || LibTorch.version.first == "2", LibTorch.version)
    }
}
