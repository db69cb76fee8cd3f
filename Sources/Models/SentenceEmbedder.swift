import Foundation
import NN
import Tokenizers
import Torch

/// A sentence-transformers model directory (modules.json: Transformer → Pooling → optional Normalize) run as one
/// encoder: token ids in, one embedding per text out.
public final class SentenceEmbedder {
    public enum Pooling: String, Sendable { case mean, cls, max }

    public let encoder: BertModel
    public let tokenizer: WordPieceTokenizer
    public let pooling: Pooling
    public let normalize: Bool
    /// Word pieces the model reads (sentence_bert_config.json's max_seq_length); longer inputs are truncated.
    public let maxSequenceLength: Int
    public let dimension: Int

    public init(directory: URL, dtype: DType = .float32) throws {
        encoder = try BertModel.load(directory: directory, dtype: dtype)
        guard let wordPiece = try loadTokenizer(directory: directory) as? WordPieceTokenizer else {
            throw ModelError.unreadable(path: directory.appendingPathComponent("tokenizer.json").path,
                                        reason: "the embedder needs a WordPiece (BERT) tokenizer")
        }
        tokenizer = wordPiece
        let modules: [[String: AnyJSON]] = (try? readJSONObject(directory.appendingPathComponent("modules.json"))) ?? []
        let types = modules.compactMap { $0["type"]?.string }
        normalize = types.contains { $0.hasSuffix("Normalize") }
        let poolingPath = modules.first { $0["type"]?.string?.hasSuffix("Pooling") == true }?["path"]?.string ?? "1_Pooling"
        // modules.json is the model author's: its pooling dir must be inside the model dir.
        let poolingDir: URL
        do {
            poolingDir = try ContainedPath.resolve(poolingPath, in: directory)
        } catch let escape as ContainedPath.Escape {
            throw ModelError.unreadable(path: directory.appendingPathComponent("modules.json").path,
                                        reason: "the Pooling module's path: \(escape.localizedDescription)")
        }
        let poolingConfig: [String: AnyJSON] =
            (try? readJSONObject(poolingDir.appendingPathComponent("config.json"))) ?? [:]
        if poolingConfig["pooling_mode_cls_token"]?.bool == true { pooling = .cls }
        else if poolingConfig["pooling_mode_max_tokens"]?.bool == true { pooling = .max }
        else { pooling = .mean }
        let sentenceConfig: [String: AnyJSON] =
            (try? readJSONObject(directory.appendingPathComponent("sentence_bert_config.json"))) ?? [:]
        maxSequenceLength = min(sentenceConfig["max_seq_length"]?.int ?? encoder.config.maxPositionEmbeddings,
                                encoder.config.maxPositionEmbeddings)
        dimension = encoder.config.hiddenSize
    }

    /// Token ids (with [CLS]/[SEP]) for each text, cut to `maxSequenceLength` word pieces, and whether it was cut
    /// (the encoder never sees the rest: callers that chunk text should keep chunks short enough).
    public func tokenize(_ text: String) -> (ids: [Int], truncated: Bool) {
        tokenizer.encodeReportingTruncation(text, addSpecialTokens: true, maxLength: maxSequenceLength)
    }

    /// One embedding per text (inputs longer than `maxSequenceLength` word pieces are truncated, as
    /// sentence-transformers does; `tokenize` tells which).
    public func embed(_ texts: [String], batchSize: Int = 32) throws -> [[Float]] {
        try embed(ids: texts.map { tokenize($0).ids }, batchSize: batchSize)
    }

    /// Embeds already-tokenized inputs (with their special tokens), padding each batch to its longest member.
    /// Inputs longer than `maxSequenceLength` are an error here: truncate when tokenizing.
    public func embed(ids: [[Int]], batchSize: Int = 32) throws -> [[Float]] {
        var result: [[Float]] = []
        result.reserveCapacity(ids.count)
        try withNoGrad {
            for start in stride(from: 0, to: ids.count, by: max(1, batchSize)) {
                let batch = Array(ids[start..<min(ids.count, start + batchSize)])
                let width = batch.map(\.count).max() ?? 0
                guard width <= maxSequenceLength else {
                    throw ModelError.invalidInput("an input of \(width) tokens exceeds max_seq_length \(maxSequenceLength)")
                }
                guard width > 0 else { throw ModelError.invalidInput("empty token sequence") }
                let flat = batch.flatMap { $0.map(Int64.init) + Array(repeating: 0, count: width - $0.count) }
                let mask = batch.flatMap { Array(repeating: Int64(1), count: $0.count) + Array(repeating: 0, count: width - $0.count) }
                let idTensor = try Tensor(flat, shape: [batch.count, width])
                let maskTensor = try Tensor(mask, shape: [batch.count, width])
                let states = try encoder(idTensor, attentionMask: maskTensor)
                var pooled = try pool(states, mask: maskTensor)
                if normalize { pooled = try pooled / (try pooled.norm(dims: [-1], keepDim: true).clamp(min: 1e-12)) }
                let values = try pooled.toArray(Float.self)
                for row in 0..<batch.count { result.append(Array(values[row * dimension..<(row + 1) * dimension])) }
            }
        }
        return result
    }

    private func pool(_ states: Tensor, mask: Tensor) throws -> Tensor {
        switch pooling {
        case .cls:
            return try states.select(dim: 1, index: 0)
        case .mean:
            let weights = try mask.to(states.dtype).unsqueeze(-1)
            return try (states * weights).sum(dim: 1) / (try weights.sum(dim: 1).clamp(min: 1e-9))
        case .max:
            let padding = try mask.eq(0).unsqueeze(-1)
            return try states.maskedFill(padding, -1e9).max(dims: [1])
        }
    }
}

/// A JSON value read loosely (for small optional config files whose keys vary between model versions).
enum AnyJSON: Decodable {
    case bool(Bool), number(Double), string(String), other

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .other }
    }

    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var int: Int? { if case .number(let n) = self { return Int(n) } else { return nil } }
    var string: String? { if case .string(let s) = self { return s } else { return nil } }
}

func readJSONObject<T: Decodable>(_ url: URL) throws -> T { try readJSON(url) }
