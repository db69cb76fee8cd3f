import Foundation
import Tokenizers

extension LanguageModel {
    /// The tokenizer a GGUF's metadata describes (`tokenizer.ggml.*`), built the way transformers builds it: byte-level
    /// BPE for `tokenizer.ggml.model` "gpt2" (GPT-2, Llama-3, Qwen2, SmolLM2), SentencePiece BPE with byte fallback
    /// for "llama" (Llama-2, Mistral). Loading a GGUF and `memorag convert` both use it, so the converted directory's
    /// tokenizer.json encodes as the GGUF does. Errors name the file.
    public static func tokenizer(of file: GGUFFile) throws -> BPETokenizer {
        let meta = file.tokenizerMetadata()
        let special = SpecialTokens(bos: meta.bosTokenID, eos: meta.eosTokenID, pad: meta.padTokenID,
                                    unk: meta.unknownTokenID)
        let types = meta.tokenTypes.isEmpty ? nil : meta.tokenTypes
        switch meta.model ?? "gpt2" {
        case "gpt2":
            guard let pre = GGUFPreTokenizer(ggufName: meta.pre ?? "default") else {
                throw ModelError.unreadable(path: file.path,
                                            reason: "tokenizer.ggml.pre '\(meta.pre ?? "")' is not supported")
            }
            return try BPETokenizer(tokens: meta.tokens, merges: meta.merges, tokenTypes: types, preTokenizer: pre,
                                    specialTokens: special, addBOS: meta.addBOS ?? false, addEOS: meta.addEOS ?? false,
                                    source: file.path)
        case "llama":
            // transformers' default for these files is BOS on (llama.cpp adds it unless the file says otherwise).
            return try BPETokenizer(sentencePieceTokens: meta.tokens, scores: meta.scores.isEmpty ? nil : meta.scores,
                                    merges: meta.merges.isEmpty ? nil : meta.merges, tokenTypes: types,
                                    specialTokens: special, addBOS: meta.addBOS ?? true, addEOS: meta.addEOS ?? false,
                                    source: file.path)
        case let other:
            throw ModelError.unreadable(path: file.path,
                                        reason: "tokenizer.ggml.model '\(other)' is not supported (gpt2, llama)")
        }
    }
}

extension GGUFFile {
    /// `tokenizer.chat_template` (Jinja), without reading the whole vocabulary as `tokenizerMetadata()` does.
    public var chatTemplate: String? { string("tokenizer.chat_template") }
}

extension GGUFConversion {
    /// `tokenizer.json` and `tokenizer_config.json` for a GGUF's tokenizer (`LanguageModel.tokenizer(of:)`), with
    /// the file's chat template and its context length as `model_max_length`: what `convert` writes by default.
    public static func tokenizerFiles(of file: GGUFFile) throws -> [String: Data] {
        let tokenizer = try LanguageModel.tokenizer(of: file)
        let contextLength = try DecoderLM.decoderConfig(of: file).maxPositionEmbeddings
        do {
            return try tokenizer.hfTokenizerFiles(chatTemplate: file.chatTemplate, modelMaxLength: contextLength)
        } catch {
            throw ModelError.unreadable(path: file.path, reason: "its tokenizer cannot be written as tokenizer.json: "
                                        + error.localizedDescription)
        }
    }
}
