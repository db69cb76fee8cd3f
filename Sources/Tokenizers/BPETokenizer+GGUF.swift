import Foundation

/// llama.cpp's pre-tokenizer types (`tokenizer.ggml.pre`) for byte-level BPE vocabularies (`tokenizer.ggml.model` =
/// "gpt2"). What matters is how transformers converts a GGUF (`AutoTokenizer.from_pretrained(dir, gguf_file:)`),
/// which is what `BPETokenizer(tokens:merges:…)` reproduces: the Llama-3 family gets the Llama-3 split regex, the
/// Qwen2 family the Qwen2 regex, and every other type keeps GPT-2's ByteLevel regex. In particular `smollm` is plain
/// ByteLevel there, although llama.cpp itself also isolates each digit for it (see `splitPattern`).
public enum GGUFPreTokenizer: String, Sendable, CaseIterable {
    case `default` = "default"
    case gpt2, mpt, olmo, jais, starcoder, refact
    case commandR = "command-r"
    case smollm, codeshell, exaone, minerva, stablelm2, bloom, poro, viking
    case llama3
    case llamaBPE = "llama-bpe"
    case llamaV3 = "llama-v3"
    case falcon3, dbrx, pixtral
    case smaugBPE = "smaug-bpe"
    case qwen2
    case deepseekR1Qwen = "deepseek-r1-qwen"
    case megrez

    /// The type for a `tokenizer.ggml.pre` value; nil for a type this package cannot reproduce (e.g. "tekken",
    /// "gpt-4o", "qwen35", whose regexes transformers uses but these scanners do not implement).
    public init?(ggufName: String) {
        self.init(rawValue: ggufName)
    }

    /// The split regex transformers puts before ByteLevel(use_regex: false); nil: ByteLevel's own GPT-2 regex.
    public var splitPattern: SplitPattern? {
        switch self {
        case .llama3, .llamaBPE, .llamaV3, .falcon3, .dbrx, .pixtral, .smaugBPE: return .llama3
        case .qwen2, .deepseekR1Qwen, .megrez: return .qwen2
        default: return nil
        }
    }
}

extension BPETokenizer {
    /// A byte-level BPE tokenizer from a GGUF's vocabulary (`tokenizer.ggml.tokens`, `.merges`, `.token_type`), built
    /// the way transformers builds it (`GPT2Tokenizer` from the GGUF): tokens spelled outside the byte alphabet are
    /// re-spelled from their UTF-8 bytes; CONTROL tokens (type 3) in the byte alphabet become special added tokens
    /// and USER_DEFINED ones (type 4) plain added tokens, matched whole; the special-token roles are added as special
    /// tokens too; the pre-tokenizer follows `preTokenizer`; the post-processor adds BOS / EOS when asked
    /// (`tokenizer.ggml.add_bos_token` / `add_eos_token`); the decoder is ByteLevel.
    public init(tokens: [String], merges: [String], tokenTypes: [Int]? = nil, preTokenizer: GGUFPreTokenizer,
                specialTokens: SpecialTokens, addBOS: Bool, addEOS: Bool = false, source: String = "GGUF") throws {
        guard !tokens.isEmpty else { throw TokenizerError.invalid(path: source, reason: "no tokens") }
        if let types = tokenTypes, types.count != tokens.count {
            throw TokenizerError.invalid(path: source,
                                         reason: "\(types.count) token types for \(tokens.count) tokens")
        }
        var alphabet = Set<UInt32>()
        for s in ByteLevel.byteToScalar { alphabet.insert(s.value) }
        func inAlphabet(_ t: String) -> Bool { t.unicodeScalars.allSatisfy { alphabet.contains($0.value) } }

        var vocab = [String: Int]()
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            vocab[inAlphabet(t) ? t : ByteLevel.encode(Array(t.utf8))] = i
        }
        var pairs = [(String, String)]()
        pairs.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.invalid(path: source, reason: "merge #\(i) \"\(m)\" is not two tokens")
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        var c = BPEConfiguration(vocab: vocab, merges: pairs)
        c.byteLevel = true
        if let split = preTokenizer.splitPattern {
            c.preTokenizer = [.split(split)]
        } else {
            c.preTokenizer = [.split(.gpt2)]
        }
        c.decoder = .byteLevel

        var added = [AddedToken]()
        var seen = Set<Int>()
        func add(_ id: Int, special: Bool) {
            guard id >= 0, id < tokens.count, !seen.contains(id) else { return }
            seen.insert(id)
            added.append(AddedToken(id: id, content: tokens[id], special: special))
        }
        if let types = tokenTypes {
            for (i, t) in types.enumerated() where t == 3 && inAlphabet(tokens[i]) { add(i, special: true) }
        }
        for id in [specialTokens.bos, specialTokens.eos, specialTokens.unk, specialTokens.pad].compactMap({ $0 }) {
            add(id, special: true)
        }
        if let types = tokenTypes {
            for (i, t) in types.enumerated() where t == 4 && vocab[tokens[i]] != nil { add(i, special: false) }
        }
        c.addedTokens = added
        if addBOS, let b = specialTokens.bos { c.prefixIDs = [b] }
        if addEOS, let e = specialTokens.eos { c.suffixIDs = [e] }
        var special = specialTokens
        if special.extraEOS.isEmpty { special.extraEOS = defaultExtraEOS(added, eos: special.eos) }
        c.specialTokens = special
        try self.init(configuration: c, path: source)
    }

    /// A tokenizer from a GGUF's metadata, as a dictionary of its keys (`tokenizer.ggml.model`, `.tokens`, `.merges`,
    /// `.token_type`, `.pre`, `.bos_token_id`, `.eos_token_id`, `.unknown_token_id`, `.padding_token_id`,
    /// `.add_bos_token`, `.add_eos_token`); values as a GGUF reader gives them (arrays of strings / integers, integer
    /// and Bool scalars). Only byte-level ("gpt2") vocabularies; `path` names the file in errors.
    public init(ggufMetadata m: [String: Any], path: String) throws {
        func int(_ key: String) -> Int? {
            switch m[key] {
            case let v as Int: return v
            case let v as any BinaryInteger: return Int(v)
            case let v as NSNumber: return v.intValue
            default: return nil
            }
        }
        let model = m["tokenizer.ggml.model"] as? String ?? "?"
        guard model == "gpt2" else {
            throw TokenizerError.unsupported(path: path, feature: "GGUF tokenizer model \"\(model)\" (only gpt2 BPE)")
        }
        guard let tokens = m["tokenizer.ggml.tokens"] as? [String] else {
            throw TokenizerError.invalid(path: path, reason: "no tokenizer.ggml.tokens")
        }
        guard let merges = m["tokenizer.ggml.merges"] as? [String] else {
            throw TokenizerError.invalid(path: path, reason: "no tokenizer.ggml.merges")
        }
        let typesAny = m["tokenizer.ggml.token_type"] as? [Any]
        let types = typesAny?.compactMap { v -> Int? in
            if let i = v as? Int { return i }
            if let i = v as? any BinaryInteger { return Int(i) }
            return (v as? NSNumber)?.intValue
        }
        let preName = m["tokenizer.ggml.pre"] as? String ?? "default"
        guard let pre = GGUFPreTokenizer(ggufName: preName) else {
            throw TokenizerError.unsupported(path: path, feature: "GGUF pre-tokenizer \"\(preName)\"")
        }
        let special = SpecialTokens(bos: int("tokenizer.ggml.bos_token_id"), eos: int("tokenizer.ggml.eos_token_id"),
                                    pad: int("tokenizer.ggml.padding_token_id"),
                                    unk: int("tokenizer.ggml.unknown_token_id"))
        try self.init(tokens: tokens, merges: merges, tokenTypes: types, preTokenizer: pre, specialTokens: special,
                      addBOS: m["tokenizer.ggml.add_bos_token"] as? Bool ?? false,
                      addEOS: m["tokenizer.ggml.add_eos_token"] as? Bool ?? false, source: path)
    }
}
