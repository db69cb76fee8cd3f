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
        var c = BPEConfiguration(vocab: vocab, merges: try ggufMergePairs(merges, source: source))
        c.byteLevel = true
        if let split = preTokenizer.splitPattern {
            c.preTokenizer = [.split(split)]
        } else {
            c.preTokenizer = [.split(.gpt2)]
        }
        c.decoder = .byteLevel
        c.setGGUFAddedTokens(tokens: tokens, tokenTypes: tokenTypes, specialTokens: specialTokens, addBOS: addBOS,
                             addEOS: addEOS, control: { inAlphabet(tokens[$0]) },
                             userDefined: { vocab[tokens[$0]] != nil }, addedID: { $0 })
        try self.init(configuration: c, path: source)
    }

    /// A SentencePiece BPE tokenizer from a GGUF whose `tokenizer.ggml.model` is "llama" (Llama-2, Mistral), built
    /// the way transformers builds it (`LlamaTokenizer` from the GGUF): vocabulary in file order; merges from the file,
    /// or derived from the scores when it has none (transformers' `generate_merges`); BPE with `byte_fallback` and
    /// `fuse_unk`; Metaspace("▁", prepend_scheme "first", no split); CONTROL tokens and the special-token roles as
    /// special added tokens, USER_DEFINED ones as plain added tokens; BOS / EOS as asked (transformers' default for
    /// these files is BOS); decoder Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0).
    public init(sentencePieceTokens tokens: [String], scores: [Float]?, merges: [String]? = nil,
                tokenTypes: [Int]? = nil, specialTokens: SpecialTokens, addBOS: Bool = true, addEOS: Bool = false,
                source: String = "GGUF") throws {
        guard !tokens.isEmpty else { throw TokenizerError.invalid(path: source, reason: "no tokens") }
        if let types = tokenTypes, types.count != tokens.count {
            throw TokenizerError.invalid(path: source, reason: "\(types.count) token types for \(tokens.count) tokens")
        }
        var vocab = [String: Int]()
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() { vocab[t] = i }
        var pairs = [(String, String)]()
        if let merges, !merges.isEmpty {
            pairs = try ggufMergePairs(merges, source: source)
        } else {
            guard let scores, scores.count == tokens.count else {
                throw TokenizerError.invalid(path: source, reason: "neither merges nor one score per token")
            }
            pairs = generateMerges(tokens: tokens, scores: scores, vocab: vocab)
        }
        var c = BPEConfiguration(vocab: vocab, merges: pairs)
        c.fuseUnk = true
        c.byteFallback = true
        c.preTokenizer = [.metaspace(replacement: "\u{2581}", prepend: .first, split: false)]
        c.decoder = .sequence([.replace(pattern: "\u{2581}", content: " "), .byteFallback, .fuse,
                               .strip(content: " ", start: 1, stop: 0)])
        // A token spelled twice in the file is added under the id the vocabulary kept for it (the last).
        c.setGGUFAddedTokens(tokens: tokens, tokenTypes: tokenTypes, specialTokens: specialTokens, addBOS: addBOS,
                             addEOS: addEOS, control: { _ in true }, userDefined: { _ in true },
                             addedID: { vocab[tokens[$0]] ?? $0 })
        try self.init(configuration: c, path: source)
    }

    /// A tokenizer from a GGUF's metadata, as a dictionary of its keys (`tokenizer.ggml.model`, `.tokens`, `.merges`,
    /// `.token_type`, `.pre`, `.bos_token_id`, `.eos_token_id`, `.unknown_token_id`, `.padding_token_id`,
    /// `.add_bos_token`, `.add_eos_token`, and `.scores` for "llama"); values as a GGUF reader gives them (arrays of
    /// strings / numbers, integer and Bool scalars). Byte-level ("gpt2") and SentencePiece ("llama") vocabularies;
    /// `path` names the file in errors.
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
        guard model == "gpt2" || model == "llama" else {
            throw TokenizerError.unsupported(path: path,
                                             feature: "GGUF tokenizer model \"\(model)\" (supported: gpt2, llama)")
        }
        guard let tokens = m["tokenizer.ggml.tokens"] as? [String] else {
            throw TokenizerError.invalid(path: path, reason: "no tokenizer.ggml.tokens")
        }
        let merges = m["tokenizer.ggml.merges"] as? [String]
        let typesAny = m["tokenizer.ggml.token_type"] as? [Any]
        let types = typesAny?.compactMap { v -> Int? in
            if let i = v as? Int { return i }
            if let i = v as? any BinaryInteger { return Int(i) }
            return (v as? NSNumber)?.intValue
        }
        if model == "llama" {
            let scores = (m["tokenizer.ggml.scores"] as? [Any])?.compactMap { v -> Float? in
                if let f = v as? Float { return f }
                if let d = v as? Double { return Float(d) }
                return (v as? NSNumber)?.floatValue
            }
            let special = SpecialTokens(bos: int("tokenizer.ggml.bos_token_id"),
                                        eos: int("tokenizer.ggml.eos_token_id"),
                                        pad: int("tokenizer.ggml.padding_token_id"),
                                        unk: int("tokenizer.ggml.unknown_token_id"))
            try self.init(sentencePieceTokens: tokens, scores: scores, merges: merges, tokenTypes: types,
                          specialTokens: special, addBOS: m["tokenizer.ggml.add_bos_token"] as? Bool ?? true,
                          addEOS: m["tokenizer.ggml.add_eos_token"] as? Bool ?? false, source: path)
            return
        }
        guard let merges else { throw TokenizerError.invalid(path: path, reason: "no tokenizer.ggml.merges") }
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

/// transformers' `generate_merges(vocab, vocab_scores)`: every split of every token into two tokens of the vocabulary,
/// ordered within a token by the ids of the halves, then all stably by score, left length and right length, each
/// descending (lengths in code points, as Python counts them).
func generateMerges(tokens: [String], scores: [Float], vocab: [String: Int]) -> [(String, String)] {
    var order = [String]()
    var score = [String: Float]()
    for (t, s) in zip(tokens, scores) {
        if score[t] == nil { order.append(t) }
        score[t] = s
    }
    struct Candidate {
        var left: String, right: String, score: Float, leftLength: Int, rightLength: Int, index: Int
    }
    var all = [Candidate]()
    for t in order {
        let scalars = Array(t.unicodeScalars)
        guard scalars.count > 1 else { continue }
        var local = [(Int, Int, String, String)]()
        for i in 1..<scalars.count {
            var l = String.UnicodeScalarView(), r = String.UnicodeScalarView()
            l.append(contentsOf: scalars[..<i])
            r.append(contentsOf: scalars[i...])
            let ls = String(l), rs = String(r)
            if let li = vocab[ls], let ri = vocab[rs] { local.append((li, ri, ls, rs)) }
        }
        local.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        for (_, _, l, r) in local {
            all.append(Candidate(left: l, right: r, score: score[t]!, leftLength: l.unicodeScalars.count,
                                 rightLength: r.unicodeScalars.count, index: all.count))
        }
    }
    all.sort { a, b in
        if a.score != b.score { return a.score > b.score }
        if a.leftLength != b.leftLength { return a.leftLength > b.leftLength }
        if a.rightLength != b.rightLength { return a.rightLength > b.rightLength }
        return a.index < b.index
    }
    return all.map { ($0.left, $0.right) }
}

/// `tokenizer.ggml.merges` entries ("left right") as pairs; `source` names the file in errors.
private func ggufMergePairs(_ merges: [String], source: String) throws -> [(String, String)] {
    var pairs = [(String, String)]()
    pairs.reserveCapacity(merges.count)
    for (i, m) in merges.enumerated() {
        let parts = m.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw TokenizerError.invalid(path: source, reason: "merge #\(i) \"\(m)\" is not two tokens")
        }
        pairs.append((String(parts[0]), String(parts[1])))
    }
    return pairs
}

extension BPEConfiguration {
    /// The added tokens, BOS / EOS post-processing and special-token roles that transformers' GGUF conversion gives
    /// both vocabulary kinds, in its order: CONTROL tokens (type 3) that `control` accepts and the special-token roles
    /// as special tokens, then USER_DEFINED ones (type 4) that `userDefined` accepts as plain ones; each token index
    /// once, added under the id `addedID` gives it.
    fileprivate mutating func setGGUFAddedTokens(tokens: [String], tokenTypes: [Int]?, specialTokens: SpecialTokens,
                                                 addBOS: Bool, addEOS: Bool, control: (Int) -> Bool,
                                                 userDefined: (Int) -> Bool, addedID: (Int) -> Int) {
        var added = [AddedToken]()
        var seen = Set<Int>()
        func add(_ id: Int, special: Bool) {
            guard id >= 0, id < tokens.count, !seen.contains(id) else { return }
            seen.insert(id)
            added.append(AddedToken(id: addedID(id), content: tokens[id], special: special))
        }
        if let types = tokenTypes {
            for (i, t) in types.enumerated() where t == 3 && control(i) { add(i, special: true) }
        }
        for id in [specialTokens.bos, specialTokens.eos, specialTokens.unk, specialTokens.pad].compactMap({ $0 }) {
            add(id, special: true)
        }
        if let types = tokenTypes {
            for (i, t) in types.enumerated() where t == 4 && userDefined(i) { add(i, special: false) }
        }
        addedTokens = added
        if addBOS, let b = specialTokens.bos { prefixIDs = [b] }
        if addEOS, let e = specialTokens.eos { suffixIDs = [e] }
        var special = specialTokens
        if special.extraEOS.isEmpty { special.extraEOS = defaultExtraEOS(added, eos: special.eos) }
        self.specialTokens = special
    }
}
