import Foundation
import Models
import Tokenizers
import Torch

/// How far `Embedder.embed` has got.
public struct EmbeddingProgress: Sendable, Equatable {
    public var done: Int
    public var total: Int
}

/// The retriever: a sentence-transformers model directory (all-MiniLM-L6-v2 by default) that turns passages and
/// queries into unit-length vectors. Texts are embedded in batches sorted by length (less padding), and come back in
/// the caller's order. Calls are serialised by a lock, so one embedder may be shared between tasks.
public final class Embedder: @unchecked Sendable {
    private let model: SentenceEmbedder
    private let lock = NSLock()
    /// Texts per forward pass.
    public let batchSize: Int
    /// Identifies the model (config, tokenizer, weights; see `Embedder.fingerprint(directory:)`), so a cache built
    /// with another retriever is recognised.
    public let fingerprint: String

    /// Loads `directory` (config.json, model.safetensors, tokenizer.json or vocab.txt, modules.json, pooling config).
    public init(directory: URL, dtype: DType = .float32, batchSize: Int = 32) throws {
        guard batchSize >= 1 else { throw RetrievalError.invalidArgument("batch size must be at least 1, got \(batchSize)") }
        model = try SentenceEmbedder(directory: directory, dtype: dtype)
        self.batchSize = batchSize
        fingerprint = try Self.fingerprint(directory: directory)
    }

    public var dimension: Int { model.dimension }
    public var tokenizer: WordPieceTokenizer { model.tokenizer }
    /// Word pieces the model reads, [CLS] and [SEP] included (256 for all-MiniLM-L6-v2); the rest is dropped.
    public var maxSequenceLength: Int { model.maxSequenceLength }
    /// Word pieces of text that fit next to the special tokens.
    public var maxContentTokens: Int { model.maxSequenceLength - model.tokenizer.encode("", addSpecialTokens: true).count }

    /// Whether the model would cut `text` (read only its first `maxSequenceLength` word pieces).
    public func wouldTruncate(_ text: String) -> Bool { model.tokenize(text).truncated }

    /// One unit-length vector of `dimension` floats per text, in the order given. Texts longer than the model reads
    /// are truncated as sentence-transformers does (`wouldTruncate` tells which; `Chunker(embedder:)` avoids them).
    public func embed(_ texts: [String], progress: ((EmbeddingProgress) -> Void)? = nil) throws -> [[Float]] {
        let ids = texts.map { model.tokenize($0).ids }
        return try embed(ids: ids, progress: progress)
    }

    /// As `embed(_:progress:)` for texts already tokenized with `tokenizer` (special tokens included).
    public func embed(ids: [[Int]], progress: ((EmbeddingProgress) -> Void)? = nil) throws -> [[Float]] {
        // Longest first, as sentence-transformers does: batches of similar length waste little on padding.
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count }
        var result = [[Float]](repeating: [], count: ids.count)
        lock.lock()
        defer { lock.unlock() }
        do {
            for start in stride(from: 0, to: order.count, by: batchSize) {
                let members = order[start..<min(order.count, start + batchSize)]
                let vectors = try model.embed(ids: members.map { ids[$0] }, batchSize: members.count)
                for (index, vector) in zip(members, vectors) { result[index] = vector }
                progress?(EmbeddingProgress(done: start + members.count, total: ids.count))
            }
        }
        return result
    }

    /// SHA-256 over what decides the vectors: config.json, the tokenizer files, the sentence-transformers module
    /// configs, and of model.safetensors its size, its header (names, dtypes, shapes, offsets) and 16 blocks of
    /// 4 KiB spread over the tensor data. Reading the whole ~90 MB file would cost more than loading the model; the
    /// sampled blocks tell apart fine-tunes of the same shape. An identity check, not an integrity check.
    public static func fingerprint(directory: URL) throws -> String {
        var hasher = SHA256()
        hasher.update("memorag-embedder-fingerprint-v1\n")
        let files = ["config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "modules.json",
                     "sentence_bert_config.json", "1_Pooling/config.json"]
        for name in files {
            let url = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                if name == "config.json" { throw RetrievalError.unreadableModel(path: url.path, reason: "missing config.json") }
                continue
            }
            hasher.update("\(name) \(data.count)\n")
            hasher.update(data)
        }
        let weights = directory.appendingPathComponent("model.safetensors")
        guard let handle = FileHandle(forReadingAtPath: weights.path) else {
            throw RetrievalError.unreadableModel(path: weights.path, reason: "cannot open the weights")
        }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        hasher.update("model.safetensors \(size)\n")
        try handle.seek(toOffset: 0)
        let lengthBytes = try handle.read(upToCount: 8) ?? Data()
        guard lengthBytes.count == 8 else { throw RetrievalError.unreadableModel(path: weights.path, reason: "file shorter than a safetensors header") }
        let headerLength = lengthBytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= size - 8 else { throw RetrievalError.unreadableModel(path: weights.path, reason: "header length \(headerLength) exceeds the file") }
        hasher.update(try handle.read(upToCount: Int(headerLength)) ?? Data())
        let dataStart = 8 + headerLength, block: UInt64 = 4096
        if size > dataStart {
            for i in 0..<UInt64(16) {
                try handle.seek(toOffset: dataStart + (size - dataStart) * i / 16)
                hasher.update(try handle.read(upToCount: Int(block)) ?? Data())
            }
        }
        return hasher.finalizeHex()
    }
}
