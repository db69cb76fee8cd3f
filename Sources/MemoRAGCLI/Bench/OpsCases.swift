import Foundation
import Torch

/// Our side of `bench ops`: each case does exactly the work its namesake in Benchmarks/peer/torch_ops.py does
/// (see that file's docstring for the definitions) and reports one figure per timed repeat.
enum OpsCases {
    static let names = ["overhead", "crossing", "matmul_1024", "matmul_4096x576x1536", "attention_smollm2", "llama_step"]

    static func run(case name: String, dtype: DType, repeats: Int) throws -> (metric: String, values: [Double], inner: Int) {
        switch name {
        case "overhead": return try overhead(dtype: dtype, repeats: repeats)
        case "crossing": return crossing(repeats: repeats)
        case "matmul_1024": return try matmul(1024, 1024, 1024, dtype: dtype, repeats: repeats)
        case "matmul_4096x576x1536": return try matmul(4096, 576, 1536, dtype: dtype, repeats: repeats)
        case "attention_smollm2": return try attention(dtype: dtype, repeats: repeats)
        case "llama_step": return try llamaStep(dtype: dtype, repeats: repeats)
        default: throw TorchError("unknown bench case '\(name)' (cases: \(names.joined(separator: ", ")))")
        }
    }

    // MARK: timing

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func timeLoop(_ k: Int, _ op: () throws -> Void) rethrows -> Double {
        let start = now()
        for _ in 0..<k { try op() }
        return now() - start
    }

    /// Warm up (≥ 2 ops and 0.2 s), then pick k so that k ops take about 0.3 s — the peer's rule.
    static func calibrate(_ op: () throws -> Void) rethrows -> Int {
        var start = now()
        var i = 0
        while true {
            try op()
            if i >= 1 && now() - start >= 0.2 { break }
            i += 1
        }
        var n = 0
        start = now()
        var elapsed = 0.0
        repeat {
            try op()
            n += 1
            elapsed = now() - start
        } while elapsed < 0.1
        return max(1, Int((0.3 / (elapsed / Double(n))).rounded()))
    }

    // MARK: cases

    static let overheadLoop = 20_000

    /// A full op through our stack: Swift wrapper, shim call, libtorch dispatch, result object.
    static func overhead(dtype: DType, repeats: Int) throws -> (String, [Double], Int) {
        let a = try Tensor.randn([1]).to(dtype), b = try Tensor.randn([1]).to(dtype)
        let loop = { try timeLoop(overheadLoop) { _ = try a + b } }
        _ = try loop()
        let values = try (0..<repeats).map { _ in try loop() / Double(overheadLoop) * 1e6 }
        return ("us_per_op", values, overheadLoop)
    }

    /// The Swift→C crossing alone (a shim function that does nothing), no libtorch work. Ours only.
    static func crossing(repeats: Int) -> (String, [Double], Int) {
        let loop = { LibTorch.timeShimCrossings(overheadLoop * 10) }
        _ = loop()
        return ("us_per_op", (0..<repeats).map { _ in loop() / Double(overheadLoop * 10) * 1e6 }, overheadLoop * 10)
    }

    static func gflops(flops: Double, repeats: Int, _ op: () throws -> Void) throws -> (String, [Double], Int) {
        let k = try calibrate(op)
        let values = try (0..<repeats).map { _ in flops * Double(k) / (try timeLoop(k, op)) / 1e9 }
        return ("gflops", values, k)
    }

    static func matmul(_ m: Int, _ k: Int, _ n: Int, dtype: DType, repeats: Int) throws -> (String, [Double], Int) {
        let a = try Tensor.randn([m, k]).to(dtype), b = try Tensor.randn([k, n]).to(dtype)
        return try gflops(flops: 2.0 * Double(m * n * k), repeats: repeats) { _ = try a.matmul(b) }
    }

    static func attention(dtype: DType, repeats: Int) throws -> (String, [Double], Int) {
        let (heads, seq, headDim) = (9, 1024, 64)
        let q = try Tensor.randn([heads, seq, headDim]).to(dtype)
        let k = try Tensor.randn([heads, seq, headDim]).to(dtype)
        let v = try Tensor.randn([heads, seq, headDim]).to(dtype)
        let flops = 2.0 * Double(2 * heads * seq * seq * headDim)
        return try gflops(flops: flops, repeats: repeats) {
            let scores = try q.bmm(k.transpose(1, 2)) * 0.125
            _ = try scores.softmax(dim: -1).bmm(v)
        }
    }

    static func llamaStep(dtype: DType, repeats: Int) throws -> (String, [Double], Int) {
        let model = try BenchLlama(dtype: dtype)
        try model.setTrainable(true, matching: ["*"])
        let tokens = try Tensor.randint(0, BenchLlama.vocab, [4, 512])
        let parameters = model.parameters().map(\.tensor)
        func step() throws -> Double {
            let start = now()
            try model.loss(tokens).backward()
            let elapsed = now() - start
            for p in parameters { try p.zeroGrad() }
            return elapsed
        }
        _ = try step()
        _ = try step()
        let values = try (0..<repeats).map { _ in Double(4 * 512) / (try step()) }
        return ("tokens_per_s", values, 1)
    }
}
