// Hugging Face view of llama-style GGUF files (architectures llama, qwen2, qwen3): tensor names, PyTorch shapes,
// llama.cpp's Q/K row permutation undone, a transformers config.json dictionary and the tokenizer metadata.
//
// convert_hf_to_gguf.py stores a llama-architecture attn_q / attn_k weight (and bias) permuted per head:
//     w.reshape(n_head, 2, rows / n_head / 2, *rest).swapaxes(1, 2).reshape(w.shape)
// i.e. within each head the two rotary halves are interleaved (GGUF row 2i + j = HF row j * half + i).
// attn_k uses n_head_kv heads. qwen2 / qwen3 files are not permuted.
import Foundation

/// A GGUF tensor under its Hugging Face name.
public struct GGUFHFTensor: Sendable, Hashable {
    /// The transformers state-dict name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public let name: String
    /// The underlying GGUF tensor.
    public let info: GGUFTensorInfo
    /// When set, the stored rows are in llama.cpp's interleaved order for this many heads; `dequantize(_:)` and
    /// `rawData(_:)` of `GGUFFile` return them in HF order.
    public let permutationHeads: Int?

    public init(name: String, info: GGUFTensorInfo, permutationHeads: Int?) {
        self.name = name
        self.info = info
        self.permutationHeads = permutationHeads
    }

    /// The PyTorch shape (GGUF dims reversed).
    public var shape: [Int] { info.shape }
}

extension GGUFFile {
    /// Architectures whose tensor names `hfTensors()` maps.
    public static let hfArchitectures: Set<String> = ["llama", "qwen2", "qwen3"]
    /// Architectures whose attn_q / attn_k tensors convert_hf_to_gguf.py stores permuted.
    public static let permutedArchitectures: Set<String> = ["llama"]

    private static let blockParts: [String: String] = [
        "attn_norm": "input_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "attn_q_norm": "self_attn.q_norm",
        "attn_k_norm": "self_attn.k_norm",
        "ffn_norm": "post_attention_layernorm",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    ]

    /// The HF name of a llama-style GGUF tensor name (`blk.3.attn_q.weight` -> `model.layers.3.self_attn.q_proj.weight`),
    /// or nil for tensors without an HF counterpart (e.g. `rope_freqs.weight`).
    public static func hfName(forGGUFName name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return nil }
        switch parts.count {
        case 2:
            switch parts[0] {
            case "token_embd": return "model.embed_tokens.\(suffix)"
            case "output_norm": return "model.norm.\(suffix)"
            case "output": return "lm_head.\(suffix)"
            default: return nil
            }
        case 4:
            guard parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
                  let hf = blockParts[String(parts[2])] else { return nil }
            return "model.layers.\(layer).\(hf).\(suffix)"
        default:
            return nil
        }
    }

    private func requireHFArchitecture() throws -> String {
        let arch = try requiredString("general.architecture")
        guard Self.hfArchitectures.contains(arch) else {
            throw GGUFError.unsupportedArchitecture(path: path, architecture: arch)
        }
        return arch
    }

    /// Every tensor that has an HF name, in file order, with the permutation to undo (llama: attn_q with
    /// `head_count` heads, attn_k with `head_count_kv`).
    public func hfTensors() throws -> [GGUFHFTensor] {
        let arch = try requireHFArchitecture()
        let permuted = Self.permutedArchitectures.contains(arch)
        var qHeads = 0, kHeads = 0
        if permuted {
            qHeads = try requiredInt("\(arch).attention.head_count")
            kHeads = int("\(arch).attention.head_count_kv") ?? qHeads
            guard qHeads > 0, kHeads > 0 else {
                throw GGUFError.invalidMetadata(path: path, key: "\(arch).attention.head_count",
                                                reason: "head counts must be positive (\(qHeads), \(kHeads))")
            }
        }
        var out = [GGUFHFTensor]()
        for t in tensors {
            guard let hf = Self.hfName(forGGUFName: t.name) else { continue }
            var heads: Int?
            if permuted {
                if hf.contains(".self_attn.q_proj.") { heads = qHeads }
                if hf.contains(".self_attn.k_proj.") { heads = kHeads }
            }
            if let h = heads {
                let rows = t.shape.first ?? 1
                guard rows % (2 * h) == 0 else {
                    throw GGUFError.invalidTensor(path: path, tensor: t.name, reason: "\(rows) rows cannot be "
                                                  + "split into \(h) heads of two rotary halves")
                }
            }
            out.append(GGUFHFTensor(name: hf, info: t, permutationHeads: heads))
        }
        return out
    }

    /// The tensor with HF name `name`.
    public func hfTensor(named name: String) throws -> GGUFHFTensor {
        guard let t = try hfTensors().first(where: { $0.name == name }) else {
            throw GGUFError.tensorNotFound(path: path, tensor: name)
        }
        return t
    }

    /// GGUF names of the tensors `hfTensors()` leaves out (e.g. `rope_freqs.weight`).
    public func hfUnmappedTensorNames() -> [String] {
        tensors.compactMap { Self.hfName(forGGUFName: $0.name) == nil ? $0.name : nil }
    }

    /// For `heads` heads, the HF row of GGUF row `r` (see the file comment).
    @inline(__always)
    static func hfRow(ofGGUFRow r: Int, rowsPerHead: Int) -> Int {
        let head = r / rowsPerHead, within = r % rowsPerHead
        return head * rowsPerHead + (within & 1) * (rowsPerHead / 2) + within / 2
    }

    /// The tensor's values as Float32 in HF order (row-major for `tensor.shape`), permutation undone.
    public func dequantize(_ tensor: GGUFHFTensor) throws -> [Float] {
        let n = tensor.info.elementCount
        try checkType(tensor.info)
        return try [Float](unsafeUninitializedCapacity: n) { buffer, count in
            try dequantize(tensor, into: buffer)
            count = n
        }
    }

    /// Dequantizes into `output` (exactly `tensor.info.elementCount` floats) in HF order.
    func dequantize(_ tensor: GGUFHFTensor, into output: UnsafeMutableBufferPointer<Float>) throws {
        guard let heads = tensor.permutationHeads else {
            return try dequantize(tensor.info, into: output)
        }
        let rows = tensor.shape.first ?? 1
        let rowsPerHead = rows / heads
        try dequantizeSlices(tensor.info, slices: rows, into: output) {
            Self.hfRow(ofGGUFRow: $0, rowsPerHead: rowsPerHead)
        }
    }

    /// The raw stored bytes (e.g. F16 / BF16 bit patterns) in HF row order: rows of whole blocks are moved, never
    /// converted.
    public func rawData(_ tensor: GGUFHFTensor) throws -> Data {
        guard let heads = tensor.permutationHeads else { return rawData(tensor.info) }
        let info = tensor.info
        let rows = tensor.shape.first ?? 1
        let rowElements = info.elementCount / max(rows, 1)
        guard rowElements % info.type.blockSize == 0 else {
            throw GGUFError.invalidTensor(path: path, tensor: info.name, reason: "rows are not whole "
                                          + "\(info.type) blocks")
        }
        let rowBytes = rowElements / info.type.blockSize * info.type.typeSize
        let rowsPerHead = rows / heads
        var out = Data(count: info.byteCount)
        out.withUnsafeMutableBytes { dst in
            let src = base + info.fileOffset
            for r in 0..<rows {
                let to = Self.hfRow(ofGGUFRow: r, rowsPerHead: rowsPerHead)
                (dst.baseAddress! + to * rowBytes).copyMemory(from: src + r * rowBytes, byteCount: rowBytes)
            }
        }
        return out
    }

    private func checkType(_ info: GGUFTensorInfo) throws {
        guard info.type.isDequantizable else {
            throw GGUFError.unsupportedTensorType(path: path, tensor: info.name, type: info.type)
        }
    }

    // MARK: config

    /// A float32 metadata value as the Double with the same shortest decimal form (1e-05, not 9.99999974e-06).
    /// A NaN or infinity is refused here, naming the key (a config cannot hold one; JSON cannot even write it).
    private func configNumber(_ key: String) throws -> Double? {
        let value: Double?
        if case .float32(let f)? = metadata[key] { value = Double(String(f)) ?? Double(f) } else { value = double(key) }
        if let value, !value.isFinite {
            throw GGUFError.invalidMetadata(path: path, key: key, reason: "\(value) is not a finite number")
        }
        return value
    }

    /// A transformers-style config.json dictionary (JSONSerialization-ready) for llama / qwen2 / qwen3 files.
    public func hfConfig() throws -> [String: Any] {
        let arch = try requireHFArchitecture()
        let heads = try requiredInt("\(arch).attention.head_count")
        var c: [String: Any] = [
            "model_type": arch,
            "architectures": [["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                               "qwen3": "Qwen3ForCausalLM"][arch]!],
            "hidden_size": try requiredInt("\(arch).embedding_length"),
            "intermediate_size": try requiredInt("\(arch).feed_forward_length"),
            "num_hidden_layers": try requiredInt("\(arch).block_count"),
            "num_attention_heads": heads,
            "num_key_value_heads": int("\(arch).attention.head_count_kv") ?? heads,
            "rms_norm_eps": try configNumber("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-6,
            "rope_theta": try configNumber("\(arch).rope.freq_base") ?? 10000.0,
            "hidden_act": "silu",
            "tie_word_embeddings": tensor(named: "output.weight") == nil,
            "torch_dtype": "float32",
        ]
        if let n = int("\(arch).context_length") { c["max_position_embeddings"] = n }
        if let tokens = metadata["tokenizer.ggml.tokens"]?.arrayValue {
            c["vocab_size"] = tokens.count
        } else if let n = int("\(arch).vocab_size") {
            c["vocab_size"] = n
        } else if let embd = tensor(named: "token_embd.weight"), embd.dims.count == 2 {
            c["vocab_size"] = embd.dims[1]
        }
        if let id = int("tokenizer.ggml.bos_token_id") { c["bos_token_id"] = id }
        if let id = int("tokenizer.ggml.eos_token_id") { c["eos_token_id"] = id }
        if let id = int("tokenizer.ggml.padding_token_id") { c["pad_token_id"] = id }
        if let d = int("\(arch).attention.key_length") {
            c["head_dim"] = d
        } else if arch == "llama", let d = int("\(arch).rope.dimension_count") {
            c["head_dim"] = d                  // what transformers does for llama
        }
        if arch == "llama" {
            c["attention_bias"] = tensor(named: "blk.0.attn_q.bias") != nil
            c["mlp_bias"] = tensor(named: "blk.0.ffn_up.bias") != nil
        }
        if let ropeType = string("\(arch).rope.scaling.type"), ropeType != "none" {
            var scaling: [String: Any] = ["rope_type": ropeType]
            let prefix = "\(arch).rope.scaling."
            for key in metadataKeys where key.hasPrefix(prefix) && key != prefix + "type" {
                let name = String(key.dropFirst(prefix.count))
                let hfKey = name == "original_context_length" ? "original_max_position_embeddings" : name
                switch metadata[key]! {
                case .bool(let b): scaling[hfKey] = b
                case .string(let s): scaling[hfKey] = s
                case let v where v.intValue != nil: scaling[hfKey] = v.intValue!
                default: if let d = try configNumber(key) { scaling[hfKey] = d }
                }
            }
            c["rope_scaling"] = scaling
        }
        return c
    }

    // MARK: tokenizer

    /// `tokenizer.ggml.*` and `tokenizer.chat_template`; absent keys give empty arrays / nil.
    public func tokenizerMetadata() -> GGUFTokenizerMetadata {
        GGUFTokenizerMetadata(
            model: string("tokenizer.ggml.model"),
            pre: string("tokenizer.ggml.pre"),
            tokens: stringArray("tokenizer.ggml.tokens") ?? [],
            merges: stringArray("tokenizer.ggml.merges") ?? [],
            tokenTypes: intArray("tokenizer.ggml.token_type") ?? [],
            scores: floatArray("tokenizer.ggml.scores") ?? [],
            bosTokenID: int("tokenizer.ggml.bos_token_id"),
            eosTokenID: int("tokenizer.ggml.eos_token_id"),
            padTokenID: int("tokenizer.ggml.padding_token_id"),
            unknownTokenID: int("tokenizer.ggml.unknown_token_id"),
            addBOS: bool("tokenizer.ggml.add_bos_token"),
            addEOS: bool("tokenizer.ggml.add_eos_token"),
            chatTemplate: string("tokenizer.chat_template"))
    }
}
