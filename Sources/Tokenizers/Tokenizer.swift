import Foundation

/// Text ↔ token ids. Implementations: byte-level BPE (GPT-2 / Qwen2 / Llama-3 / SmolLM2), SentencePiece-style BPE
/// (Llama-2 / Mistral: metaspace, byte fallback) and WordPiece (BERT). Value types, safe to share across threads.
public protocol Tokenizer: Sendable {
    /// Number of ids (vocabulary plus added tokens).
    var vocabularySize: Int { get }
    /// Ids of special tokens by role; nil where the tokenizer has none.
    var specialTokens: SpecialTokens { get }

    /// Token ids for `text`. With `addSpecialTokens`, the post-processor's markers are added (BOS for Llama,
    /// `[CLS] … [SEP]` for BERT); special tokens written inside `text` (e.g. "<|im_end|>") are always recognised.
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]

    /// The text of `ids`; with `skipSpecialTokens`, special tokens are left out.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String

    /// The token string of an id (as stored in the vocabulary), nil when out of range.
    func token(for id: Int) -> String?
    /// The id of a token string (vocabulary or added token), nil when unknown.
    func id(for token: String) -> Int?
}

/// Ids of the tokens that play a role in generation and encoding.
public struct SpecialTokens: Sendable, Equatable {
    public var bos: Int?
    public var eos: Int?
    public var pad: Int?
    public var unk: Int?
    /// Further ids that end generation (e.g. ChatML's `<|im_end|>` besides EOS).
    public var extraEOS: [Int]

    public init(bos: Int? = nil, eos: Int? = nil, pad: Int? = nil, unk: Int? = nil, extraEOS: [Int] = []) {
        self.bos = bos
        self.eos = eos
        self.pad = pad
        self.unk = unk
        self.extraEOS = extraEOS
    }
}

/// Failures loading or building a tokenizer; messages name the file and the problem.
public enum TokenizerError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case invalid(path: String, reason: String)
    case unsupported(path: String, feature: String)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read tokenizer: \(reason)"
        case .invalid(let path, let reason): return "\(path): invalid tokenizer: \(reason)"
        case .unsupported(let path, let feature): return "\(path): unsupported tokenizer feature: \(feature)"
        }
    }
}
