import Foundation

/// Writing a `BPETokenizer` as the HF files that describe it, so that a model converted from a GGUF (where the
/// tokenizer lives in metadata) is a complete HF directory. `tokenizer.json` follows the layout transformers writes for
/// a GGUF (`AutoTokenizer.from_pretrained(dir, gguf_file:)` then `save_pretrained`); both this package's loader
/// (`TokenizerJSON.swift`) and HF `tokenizers` read it back to the same ids.
extension BPETokenizer {
    /// HF `tokenizer.json`, compact as `tokenizers` writes it: keys in serde's order, the vocabulary in id order,
    /// merges as `[left, right]` pairs (tokenizers ≥ 0.20), added tokens by id. The post-processor is a
    /// `TemplateProcessing` adding `prefixIDs` / `suffixIDs`. Throws `TokenizerError.unsupported` for a pipeline
    /// HF cannot express.
    public func tokenizerJSON() throws -> Data {
        try TokenizerJSONWriter(self).document().serialized()
    }

    /// HF `tokenizer_config.json` for transformers: the bos / eos / pad / unk token strings, `add_bos_token` /
    /// `add_eos_token` (when the post-processor is just BOS / EOS, which is what they can say),
    /// `clean_up_tokenization_spaces: false` (decoding as `decode` here does), `model_max_length` when given,
    /// `tokenizer_class` (`PreTrainedTokenizerFast`, which transformers 4 and 5 both load from `tokenizer.json`) and
    /// `chat_template` when given. Indented as transformers writes it.
    public func tokenizerConfigJSON(chatTemplate: String? = nil, modelMaxLength: Int? = nil) -> Data {
        var members = [(String, OrderedJSON)]()
        if let bos = flag(prefixIDs, role: specialTokens.bos), let eos = flag(suffixIDs, role: specialTokens.eos) {
            members += [("add_bos_token", .bool(bos)), ("add_eos_token", .bool(eos))]
        }
        func role(_ key: String, _ id: Int?) {
            if let token = id.flatMap({ token(for: $0) }) { members.append((key, .string(token))) }
        }
        role("bos_token", specialTokens.bos)
        members.append(("clean_up_tokenization_spaces", .bool(false)))
        role("eos_token", specialTokens.eos)
        if let modelMaxLength { members.append(("model_max_length", .int(modelMaxLength))) }
        role("pad_token", specialTokens.pad)
        members.append(("tokenizer_class", .string("PreTrainedTokenizerFast")))
        role("unk_token", specialTokens.unk)
        // Last, as transformers puts it (the other keys sorted).
        if let chatTemplate { members.append(("chat_template", .string(chatTemplate))) }
        return OrderedJSON.object(members).serialized(pretty: true)
    }

    /// `tokenizer.json` and `tokenizer_config.json` by file name, for writing into a model directory.
    public func hfTokenizerFiles(chatTemplate: String? = nil, modelMaxLength: Int? = nil) throws -> [String: Data] {
        ["tokenizer.json": try tokenizerJSON(),
         "tokenizer_config.json": tokenizerConfigJSON(chatTemplate: chatTemplate, modelMaxLength: modelMaxLength)]
    }

    /// `add_bos_token` / `add_eos_token` for what the post-processor adds on one side: false for nothing, true for
    /// just the role's token, nil when the flag cannot say it (transformers would then rebuild the post-processor
    /// wrongly, and so would our loader, so the flags are left out).
    private func flag(_ ids: [Int], role: Int?) -> Bool? {
        if ids.isEmpty { return false }
        return ids.count == 1 && ids[0] == role ? true : nil
    }
}

/// Turns the tokenizer's parsed pipeline back into `tokenizer.json` objects: the inverse of `JSONParser`.
private struct TokenizerJSONWriter {
    let tokenizer: BPETokenizer
    /// Vocabulary token per id (the first in string order where several share an id), for merges and `unk_token`.
    let vocabToken: [String?]

    static let path = "tokenizer.json"

    init(_ tokenizer: BPETokenizer) {
        self.tokenizer = tokenizer
        var byID = [String?](repeating: nil, count: tokenizer.vocabularySize)
        for (token, id) in tokenizer.vocab.sorted(by: { $0.key < $1.key }) where byID[id] == nil { byID[id] = token }
        vocabToken = byID
    }

    func unsupported(_ feature: String) -> TokenizerError { .unsupported(path: Self.path, feature: feature) }

    func document() throws -> OrderedJSON {
        .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(addedTokens())),
            ("normalizer", normalizer()),
            ("pre_tokenizer", try preTokenizer()),
            ("post_processor", try postProcessor()),
            ("decoder", tokenizer.decoder.map(decoder) ?? .null),
            ("model", try model()),
        ])
    }

    // MARK: Added tokens and model

    func addedTokens() -> [OrderedJSON] {
        // HF lists them by id; a stable sort keeps the first of two with the same content first, as matching wants.
        let sorted = tokenizer.addedTokens.enumerated().sorted {
            ($0.element.id, $0.offset) < ($1.element.id, $1.offset)
        }
        return sorted.map { _, t in
            .object([("id", .int(t.id)), ("content", .string(t.content)), ("single_word", .bool(t.singleWord)),
                     ("lstrip", .bool(t.lstrip)), ("rstrip", .bool(t.rstrip)), ("normalized", .bool(t.normalized)),
                     ("special", .bool(t.special))])
        }
    }

    func model() throws -> OrderedJSON {
        let m = tokenizer.model
        let vocab = tokenizer.vocab.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
        var merges = [OrderedJSON]()
        for (rank, pair) in m.merges.rankedPairs().enumerated() {
            guard let left = vocabToken[Int(pair.left)], let right = vocabToken[Int(pair.right)] else {
                throw TokenizerError.invalid(path: Self.path,
                                             reason: "merge #\(rank) refers to an id outside the vocabulary")
            }
            merges.append(.array([.string(left), .string(right)]))
        }
        // transformers' GPT2Tokenizer (byte-level GGUFs) sets "" for these, its LlamaTokenizer leaves them null;
        // `tokenizers` reads both as "none".
        let affix: OrderedJSON = m.byteLevel ? .string("") : .null
        return .object([
            ("type", .string("BPE")),
            ("dropout", .null),
            ("unk_token", .nullable(m.unkID.flatMap { vocabToken[Int($0)] })),
            ("continuing_subword_prefix", affix),
            ("end_of_word_suffix", affix),
            ("fuse_unk", .bool(m.fuseUnk)),
            ("byte_fallback", .bool(m.byteFallbackIDs != nil)),
            ("ignore_merges", .bool(m.wholeWords != nil)),
            ("vocab", .object(vocab.map { ($0.key, .int($0.value)) })),
            ("merges", .array(merges)),
        ])
    }

    // MARK: Pipeline

    func normalizer() -> OrderedJSON {
        let steps = tokenizer.normalizer.map { step -> OrderedJSON in
            switch step {
            case .prepend(let s):
                return .object([("type", .string("Prepend")), ("prepend", .string(String(decoding: s, as: UTF8.self)))])
            case .replace(let pattern, let content):
                return .object([("type", .string("Replace")),
                                ("pattern", .object([("String", .string(String(decoding: pattern, as: UTF8.self)))])),
                                ("content", .string(String(decoding: content, as: UTF8.self)))])
            case .nfc: return .object([("type", .string("NFC"))])
            case .nfd: return .object([("type", .string("NFD"))])
            case .nfkc: return .object([("type", .string("NFKC"))])
            case .nfkd: return .object([("type", .string("NFKD"))])
            case .lowercase: return .object([("type", .string("Lowercase"))])
            case .strip(let left, let right):
                return .object([("type", .string("Strip")), ("strip_left", .bool(left)), ("strip_right", .bool(right))])
            }
        }
        return sequence(steps, type: "Sequence", key: "normalizers")
    }

    /// The parser expands a ByteLevel pre-tokenizer (always last) into `prefixSpace` (add_prefix_space) and
    /// `split(.gpt2)` (use_regex) steps at the end of the list; those are folded back into one ByteLevel. A Split
    /// with the GPT-2 regex before ByteLevel(use_regex: false) becomes ByteLevel(use_regex: true): the same split.
    func preTokenizer() throws -> OrderedJSON {
        var steps = tokenizer.preTokenizer
        var byteLevel: OrderedJSON? = nil
        if tokenizer.model.byteLevel {
            var useRegex = false, addPrefixSpace = false
            if steps.last == .split(.gpt2) { steps.removeLast(); useRegex = true }
            if steps.last == .prefixSpace { steps.removeLast(); addPrefixSpace = true }
            byteLevel = .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)),
                                 ("trim_offsets", .bool(true)), ("use_regex", .bool(useRegex))])
        }
        var items = [OrderedJSON]()
        for step in steps {
            switch step {
            case .split(let pattern):
                items.append(.object([("type", .string("Split")),
                                      ("pattern", .object([("Regex", .string(pattern.regex))])),
                                      ("behavior", .string("Isolated")), ("invert", .bool(false))]))
            case .digits(let individual):
                items.append(.object([("type", .string("Digits")), ("individual_digits", .bool(individual))]))
            case .metaspace(let replacement, let prepend, let split):
                items.append(.object([("type", .string("Metaspace")),
                                      ("replacement", .string(String(Character(replacement)))),
                                      ("prepend_scheme", .string(prepend.rawValue)), ("split", .bool(split))]))
            case .prefixSpace:
                // Only ByteLevel(add_prefix_space: true) adds spaces, and it must come last.
                throw unsupported("a prefix space before other pre-tokenizers (only ByteLevel, last, adds one)")
            }
        }
        if let byteLevel { items.append(byteLevel) }
        return sequence(items, type: "Sequence", key: "pretokenizers")
    }

    /// `TemplateProcessing` with `prefixIDs $A suffixIDs` (and for pairs `… prefixIDs:1 $B:1 suffixIDs:1`, as
    /// transformers builds it from add_bos_token / add_eos_token).
    func postProcessor() throws -> OrderedJSON {
        var specials = [String: Int]()
        func special(_ id: Int, typeID: Int) throws -> OrderedJSON {
            guard let name = tokenizer.token(for: id) else {
                throw unsupported("post-processor token id \(id) has no token string")
            }
            if let other = specials[name], other != id {
                throw unsupported("post-processor tokens \(other) and \(id) share the string \(name.debugDescription)")
            }
            specials[name] = id
            return .object([("SpecialToken", .object([("id", .string(name)), ("type_id", .int(typeID))]))])
        }
        func sequence(_ name: String, typeID: Int) -> OrderedJSON {
            .object([("Sequence", .object([("id", .string(name)), ("type_id", .int(typeID))]))])
        }
        let single = try tokenizer.prefixIDs.map { try special($0, typeID: 0) } + [sequence("A", typeID: 0)]
            + tokenizer.suffixIDs.map { try special($0, typeID: 0) }
        let pair = try single + tokenizer.prefixIDs.map { try special($0, typeID: 1) } + [sequence("B", typeID: 1)]
            + tokenizer.suffixIDs.map { try special($0, typeID: 1) }
        let tokens = specials.sorted { $0.key < $1.key }.map { name, id -> (String, OrderedJSON) in
            (name, .object([("id", .string(name)), ("ids", .array([.int(id)])), ("tokens", .array([.string(name)]))]))
        }
        return .object([("type", .string("TemplateProcessing")), ("single", .array(single)), ("pair", .array(pair)),
                        ("special_tokens", .object(tokens))])
    }

    func decoder(_ step: DecoderStep) -> OrderedJSON {
        switch step {
        case .byteLevel:
            return .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)),
                            ("trim_offsets", .bool(true)), ("use_regex", .bool(true))])
        case .replace(let pattern, let content):
            return .object([("type", .string("Replace")), ("pattern", .object([("String", .string(pattern))])),
                            ("content", .string(content))])
        case .byteFallback: return .object([("type", .string("ByteFallback"))])
        case .fuse: return .object([("type", .string("Fuse"))])
        case .strip(let content, let start, let stop):
            return .object([("type", .string("Strip")), ("content", .string(String(Character(content)))),
                            ("start", .int(start)), ("stop", .int(stop))])
        case .metaspace(let replacement, let scheme):
            return .object([("type", .string("Metaspace")), ("replacement", .string(String(Character(replacement)))),
                            ("prepend_scheme", .string(scheme.rawValue)), ("split", .bool(true))])
        case .sequence(let steps):
            return .object([("type", .string("Sequence")), ("decoders", .array(steps.map(decoder)))])
        }
    }

    /// No step: null; one: itself; more: a `Sequence` of them under `key`.
    func sequence(_ items: [OrderedJSON], type: String, key: String) -> OrderedJSON {
        switch items.count {
        case 0: return .null
        case 1: return items[0]
        default: return .object([("type", .string(type)), (key, .array(items))])
        }
    }
}
