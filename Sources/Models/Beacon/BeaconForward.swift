import NN
import Torch

// One window step of a beacon model: the step's tokens (raw and interleaved beacons) attend causally to
// [memory ; step]; beacon positions use the beacon embedding and projections; keys are stored before RoPE, and
// positions 0 ..< memory + step are assigned afresh each step (the reference's full-coverage, interleave layout).
extension DecoderLM {
    struct BeaconStepOutput {
        /// Last-layer hidden states before the final norm, [1, stepLength, hidden].
        var hidden: Tensor
    }

    /// Runs `plan` through every layer against `memory` and takes the new keys/values into it. Without
    /// `needHidden` (memorizing) the last layer stops once its keys and values are made: nothing reads its output.
    /// `probe` (inference only) sees, per layer, the step's rotated queries and the memory they attend to.
    func beaconStep(_ plan: BeaconStepPlan, memory: BeaconMemory, needHidden: Bool = true,
                    probe: BeaconAttentionProbe? = nil) throws -> BeaconStepOutput {
        let length = plan.tokens.count
        let device = self.device
        let beaconRows = plan.isBeacon.indices.filter { plan.isBeacon[$0] }
        let rowIndex = beaconRows.isEmpty ? nil : try Tensor(beaconRows.map { Int64($0) }, shape: [beaconRows.count], device: device)
        var h = try embedBeaconStep(plan, rowIndex: rowIndex)

        let memoryLength = plan.memoryLength
        // Rotary tables for the step's positions; those of the whole memory only where it is rotated afresh
        // (training, or an attend cache being rebuilt): a decoded token would otherwise pay for ~5K positions.
        let (queryCos, querySin) = try rope.cosSin(
            positions: try Tensor.arange(Double(memoryLength), Double(memoryLength + length), device: device), dtype: dtype)
        var fullTables: (cos: Tensor, sin: Tensor)?
        func allTables() throws -> (cos: Tensor, sin: Tensor) {
            if let fullTables { return fullTables }
            let tables = try rope.cosSin(positions: try Tensor.arange(0, Double(memoryLength + length), device: device),
                                         dtype: dtype)
            fullTables = tables
            return tables
        }
        // Entries of the window (cached raw ones and this step's) that become beacon memory when the window fills.
        let windowBeaconIndex: Tensor?
        if plan.windowFull {
            let rows = plan.windowBeacons.indices.filter { plan.windowBeacons[$0] }.map { Int64($0) }
            windowBeaconIndex = rows.isEmpty ? nil : try Tensor(rows, shape: [rows.count], device: device)
        } else {
            windowBeaconIndex = nil
        }

        // Training attends through SDPA (for its gradient) over [memory ; step] with the causal mask aligned at the
        // bottom right. While the memory is shorter than the step, the step's queries go below as many zero queries
        // as the memory has entries instead, and SDPA's own causal mode skips the blocks above the diagonal:
        // (M + L)²/2 scores against L·(M + L) with a mask. The zero rows' outputs are dropped (no gradient flows
        // from them). Otherwise the additive float mask is made once for all layers (SDPA would convert a bool
        // mask in every layer). Inference attends without a mask (Functional.memoryWindowAttention).
        let paddedCausal = memory.training && memoryLength < length
        let mask: Tensor? = length == 1 || !memory.training || paddedCausal ? nil
            : try Tensor.full([length, memoryLength + length], -Double.infinity, dtype: dtype, device: device)
                .triu(memoryLength + 1)

        for (i, layer) in body.layers.enumerated() {
            if !needHidden && i == body.layers.count - 1 {
                let (keys, values) = try beaconKeysValues(layer.attention, try layer.inputNorm(h), rowIndex: rowIndex)
                try memory.absorb(layer: i, keys: keys, values: values, plan: plan, beaconIndex: windowBeaconIndex)
                break
            }
            let x = try layer.inputNorm(h)
            let attended: Tensor, keys: Tensor, values: Tensor
            if memory.training {
                (attended, keys, values) = try beaconTrainingAttention(
                    layer.attention, x, rowIndex: rowIndex, memory: try memory.memoryKeysValues(layer: i), mask: mask,
                    paddedCausal: paddedCausal, tables: try allTables(), queryCos: queryCos, querySin: querySin)
                try memory.absorb(layer: i, keys: keys, values: values, plan: plan, beaconIndex: windowBeaconIndex)
            } else {
                let rotatedKeys: Tensor
                (attended, keys, values, rotatedKeys) = try beaconInferenceAttention(
                    layer.attention, x, rowIndex: rowIndex,
                    memory: try memory.attendableMemory(layer: i, tables: allTables, stepLength: length,
                                                        keepCache: !plan.windowFull),
                    queryCos: queryCos, querySin: querySin, probe: probe.map { probe in { try probe(i, $0, $1, $2) } })
                try memory.absorb(layer: i, keys: keys, values: values, plan: plan, beaconIndex: windowBeaconIndex)
                try memory.updateAttendCache(layer: i, rotatedKeys: rotatedKeys, values: values,
                                             previousLength: memoryLength)
            }
            if isGradEnabled {
                h = try h + attended
                h = try h + layer.mlp(layer.postAttentionNorm(h))
            } else {
                // The residual stream is this step's own buffer: added to in place.
                try h.addInPlace(attended)
                try h.addInPlace(try layer.mlp(layer.postAttentionNorm(h)))
            }
        }
        return BeaconStepOutput(hidden: h)
    }

    /// Token embeddings, with the shared beacon embedding at beacon rows.
    private func embedBeaconStep(_ plan: BeaconStepPlan, rowIndex: Tensor?) throws -> Tensor {
        let ids = try Tensor(plan.tokens.map { Int64(max($0, 0)) }, shape: [1, plan.tokens.count], device: device)
        let embedded = try body.embedTokens(ids)
        guard rowIndex != nil, let beacon = body.beaconEmbedTokens else { return embedded }
        let mask = try Tensor(plan.isBeacon, shape: [1, plan.tokens.count, 1], device: device)
        return try Tensor.where(mask, beacon.weight.reshape(1, 1, -1), embedded)
    }

    /// Only the new keys and values of a layer, [1, kvHeads, L, headDim] before RoPE.
    private func beaconKeysValues(_ a: Attention, _ x: Tensor, rowIndex: Tensor?) throws -> (Tensor, Tensor) {
        let (_, k, v) = try beaconProjections(a, x, rowIndex: rowIndex, queries: false)
        return (k, v)
    }

    /// The step's queries, keys and values of one layer ([1, heads, L, headDim]), beacon rows through the beacon
    /// projections.
    private func beaconQKV(_ a: Attention, _ x: Tensor, rowIndex: Tensor?) throws -> (Tensor, Tensor, Tensor) {
        let (q, k, v) = try beaconProjections(a, x, rowIndex: rowIndex, queries: true)
        return (q!, k, v)
    }

    /// Keys and values (and queries when asked) in heads, beacon rows through the beacon projections.
    private func beaconProjections(_ a: Attention, _ x: Tensor, rowIndex: Tensor?, queries: Bool)
        throws -> (Tensor?, Tensor, Tensor)
    {
        let length = x.dim(1)
        let beaconX = try rowIndex.map { try x.indexSelect(dim: 1, $0) }
        let plain = queries ? try a.projectQKV(x) : (q: nil, k: try a.kProj(x), v: try a.vProj(x))
        func heads(_ plain: Tensor, _ beacon: Linear?, _ n: Int) throws -> Tensor {
            var out = plain
            if let beacon, let rowIndex, let beaconX { out = try replacingRows(out, rowIndex, with: try beacon(beaconX)) }
            return try out.reshape(1, length, n, a.headDim).transpose(1, 2)
        }
        return (try plain.q.map { try heads($0, a.beaconQProj, a.heads) },
                try heads(plain.k, a.beaconKProj, a.kvHeads), try heads(plain.v, a.beaconVProj, a.kvHeads))
    }

    /// The attention output [1, L, hidden] from the merged heads, beacon rows through `beacon_o_proj` if present.
    private func beaconOutput(_ a: Attention, _ attended: Tensor, rowIndex: Tensor?) throws -> Tensor {
        let length = attended.dim(2)
        let merged = try attended.transpose(1, 2).reshape(1, length, a.heads * a.headDim)
        var out = try a.oProj(merged)
        if let beaconO = a.beaconOProj, let rowIndex {
            out = try replacingRows(out, rowIndex, with: try beaconO(try merged.indexSelect(dim: 1, rowIndex)))
        }
        return out
    }

    /// Training: one differentiable SDPA over [memory ; step], causal from the bottom right (by `mask`, or with
    /// `paddedCausal` by zero queries above the step's), the memory rotated afresh (its pre-RoPE tensors carry the
    /// gradient into earlier windows). Returns (output, new keys and values before RoPE).
    private func beaconTrainingAttention(
        _ a: Attention, _ x: Tensor, rowIndex: Tensor?, memory: (Tensor, Tensor)?, mask: Tensor?, paddedCausal: Bool,
        tables: (cos: Tensor, sin: Tensor), queryCos: Tensor, querySin: Tensor
    ) throws -> (Tensor, Tensor, Tensor) {
        let (q, k, v) = try beaconQKV(a, x, rowIndex: rowIndex)
        let allKeys = try memory.map { try Tensor.cat([$0.0, k], dim: 2) } ?? k
        let allValues = try memory.map { try Tensor.cat([$0.1, v], dim: 2) } ?? v
        var queries = try Functional.applyRotary(q, cos: queryCos, sin: querySin)
        let memoryLength = allKeys.dim(2) - k.dim(2)
        if paddedCausal && memoryLength > 0 {
            let zeros = try Tensor.zeros([1, a.heads, memoryLength, a.headDim], dtype: queries.dtype,
                                         device: queries.device)
            queries = try Tensor.cat([zeros, queries], dim: 2)
        }
        var attended = try Functional.scaledDotProductAttention(
            queries, try Functional.applyRotary(allKeys, cos: tables.cos, sin: tables.sin), allValues, mask: mask,
            causal: paddedCausal)
        if paddedCausal && memoryLength > 0 {
            attended = try attended.narrow(dim: 2, start: memoryLength, length: k.dim(2))
        }
        return (try beaconOutput(a, attended, rowIndex: rowIndex), k, v)
    }

    /// Inference: the memory (already rotated, see `BeaconAttendCache`) and the causal step without a mask tensor (one
    /// pass of the shim's window kernel for float32 on AVX-512, two flash passes elsewhere).
    /// The step's keys sit at the queries' positions, so they rotate with the queries' cos/sin. Returns (output, new
    /// keys and values before RoPE, the new keys rotated).
    private func beaconInferenceAttention(
        _ a: Attention, _ x: Tensor, rowIndex: Tensor?, memory: [(keys: Tensor, values: Tensor)],
        queryCos: Tensor, querySin: Tensor,
        probe: ((_ queries: Tensor, _ memory: [(keys: Tensor, values: Tensor)], _ windowKeys: Tensor) throws -> Void)? = nil
    ) throws -> (Tensor, Tensor, Tensor, Tensor) {
        let (q, k, v) = try beaconQKV(a, x, rowIndex: rowIndex)
        let rotatedKeys = try Functional.applyRotary(k, cos: queryCos, sin: querySin)
        let rotatedQueries = try Functional.applyRotary(q, cos: queryCos, sin: querySin)
        try probe?(rotatedQueries, memory, rotatedKeys)
        let attended = try Functional.memoryWindowAttention(rotatedQueries, memorySegments: memory,
                                                            window: (rotatedKeys, v))
        return (try beaconOutput(a, attended, rowIndex: rowIndex), k, v, rotatedKeys)
    }

    /// `t` [1, L, F] with rows `index` replaced by `rows` [1, n, F] (differentiable in both). Without autograd
    /// the rows are written into `t` itself (a fresh projection nothing else reads), sparing a copy of all of it.
    private func replacingRows(_ t: Tensor, _ index: Tensor, with rows: Tensor) throws -> Tensor {
        guard isGradEnabled else {
            try t.squeeze(0).indexPutInPlace(index, rows.squeeze(0))
            return t
        }
        return try t.squeeze(0).indexPut(index, rows.squeeze(0)).unsqueeze(0)
    }
}
