import Torch

/// Linear layers that read the same input (attention's q/k/v, the feed-forward gate and up) computed as one GEMM
/// over their concatenated float weights, for inputs of many rows without a gradient (prefill, memorizing). One
/// wide product keeps the BLAS kernel busier than two or three narrow ones: for SmolLM2-135M's gate and up on 1,152
/// rows (2 threads, MKL) 12.6–13.1 ms against 16.7 ms. The first such call moves the layers' weights into one buffer
/// and gives each layer a view of its rows, so later calls read the concatenation in place instead of copying
/// 9 MB of weights per layer per call (~2 % of a memorize window); an in-place update of a weight writes into that
/// buffer and is seen, a replaced weight is moved again on the next call. Weights that record gradients are never
/// moved (their copy is made per call), and few rows keep separate products: the copy costs more than it saves on a
/// few rows. Not while recording gradients: each output view's backward fills a zero gradient of the whole product,
/// which made a beacon training step slower (230 against 258 tokens/s).
public enum FusedFloatLinears {
    /// Rows from which the fused product pays for the copy of the weights.
    public static let minimumRows = 512

    /// Each layer's output for `x` [..., in], as views of one product; nil where the layers run on their own (few
    /// rows, gradients recorded, int8 copies, LoRA adapters, bias on some but not all).
    public static func outputs(_ linears: [Linear], _ x: Tensor) throws -> [Tensor]? {
        let width = x.dim(-1)
        guard linears.count > 1, width > 0, x.count / width >= minimumRows, !isGradEnabled,
              linears.allSatisfy({ $0.int8 == nil && $0.loraA == nil && $0.weight.dim(1) == width })
        else { return nil }
        let biases = linears.compactMap(\.bias)
        guard biases.isEmpty || biases.count == linears.count else { return nil }
        let weight = try adjacentWeights(linears) ?? Tensor.cat(linears.map(\.weight), dim: 0)
        let bias = biases.isEmpty ? nil : try Tensor.cat(biases, dim: 0)
        let y = try Functional.linear(x, weight: weight, bias: bias)
        var start = 0
        return try linears.map { linear in
            defer { start += linear.weight.dim(0) }
            return try y.narrow(dim: -1, start: start, length: linear.weight.dim(0))
        }
    }

    /// The layers' weights as one matrix without a copy: as they lie, or after moving them into one buffer (each
    /// layer keeps a view of its rows). nil when they record gradients or differ in dtype.
    private static func adjacentWeights(_ linears: [Linear]) throws -> Tensor? {
        let weights = linears.map(\.weight)
        if let view = try Tensor.adjacentRowsView(weights) { return view }
        guard weights.allSatisfy({ !$0.requiresGrad && $0.dtype == weights[0].dtype }) else { return nil }
        let block = try Tensor.cat(weights, dim: 0)
        var start = 0
        for linear in linears {
            let rows = linear.weight.dim(0)
            linear.weight = try block.narrow(dim: 0, start: start, length: rows)
            start += rows
        }
        return block
    }
}
