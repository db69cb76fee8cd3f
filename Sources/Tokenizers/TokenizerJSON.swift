import Foundation

/// Reading HF `tokenizer.json` / `tokenizer_config.json` files.
public enum TokenizerJSON {
    /// The top-level object of a JSON file; errors name the file.
    public static func readObject(at url: URL) throws -> [String: Any] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw TokenizerError.invalid(path: url.path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let dict = object as? [String: Any] else {
            throw TokenizerError.invalid(path: url.path, reason: "top level is not a JSON object")
        }
        return dict
    }

    /// A `tokenizer_config.json` token entry: a string, or an `AddedToken` object with `content`.
    static func tokenString(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        if let d = value as? [String: Any] { return d["content"] as? String }
        return nil
    }
}

extension BPETokenizer {
    /// Loads `tokenizer.json` (and `tokenizer_config.json` when present, for the special token roles) from a
    /// directory.
    public init(directory: URL) throws {
        let file = directory.appendingPathComponent("tokenizer.json")
        let json = try TokenizerJSON.readObject(at: file)
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configURL.path)
            ? try TokenizerJSON.readObject(at: configURL) : nil
        try self.init(tokenizerJSON: json, config: config, path: file.path)
    }

    /// Builds from a parsed `tokenizer.json` (`path` names it in errors) and optionally its `tokenizer_config.json`
    /// (bos/eos/pad/unk roles; `add_bos_token` / `add_eos_token` there override the post-processor, as transformers
    /// does).
    public init(tokenizerJSON json: [String: Any], config: [String: Any]? = nil, path: String) throws {
        let parser = JSONParser(path: path)
        try self.init(configuration: parser.configuration(json, config: config), path: path)
    }
}

/// Turns the JSON objects into a `BPEConfiguration`, with errors naming the file.
struct JSONParser {
    let path: String

    func invalid(_ reason: String) -> TokenizerError { .invalid(path: path, reason: reason) }
    func unsupported(_ feature: String) -> TokenizerError { .unsupported(path: path, feature: feature) }

    func configuration(_ json: [String: Any], config: [String: Any]?) throws -> BPEConfiguration {
        guard let model = json["model"] as? [String: Any] else { throw invalid("no \"model\" object") }
        let type = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "?")
        guard type == "BPE" else { throw unsupported("model type \"\(type)\" (BPETokenizer reads BPE models)") }
        guard let vocabObject = model["vocab"] else { throw invalid("model has no \"vocab\"") }
        guard let vocabDict = vocabObject as? [String: Any] else { throw invalid("model \"vocab\" is not an object") }
        var vocab = [String: Int]()
        vocab.reserveCapacity(vocabDict.count)
        for (k, v) in vocabDict {
            guard let i = intValue(v) else { throw invalid("vocab entry \"\(k)\" has no integer id") }
            vocab[k] = i
        }
        guard let mergesObject = model["merges"] else { throw invalid("model has no \"merges\"") }
        guard let mergesArray = mergesObject as? [Any] else { throw invalid("model \"merges\" is not an array") }
        var merges = [(String, String)]()
        merges.reserveCapacity(mergesArray.count)
        for (i, m) in mergesArray.enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw invalid("merge #\(i) \"\(s)\" is not two tokens separated by a space") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let a = m as? [Any], a.count == 2, let l = a[0] as? String, let r = a[1] as? String {
                merges.append((l, r))
            } else {
                throw invalid("merge #\(i) is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key] as? String, !s.isEmpty { throw unsupported("BPE \(key) \"\(s)\"") }
        }

        var c = BPEConfiguration(vocab: vocab, merges: merges)
        c.unkToken = model["unk_token"] as? String
        c.fuseUnk = model["fuse_unk"] as? Bool ?? false
        c.byteFallback = model["byte_fallback"] as? Bool ?? false
        c.ignoreMerges = model["ignore_merges"] as? Bool ?? false

        if let added = json["added_tokens"] as? [[String: Any]] {
            for t in added {
                guard let id = intValue(t["id"]), let content = t["content"] as? String else {
                    throw invalid("added token without id or content")
                }
                c.addedTokens.append(AddedToken(
                    id: id, content: content, special: t["special"] as? Bool ?? false,
                    singleWord: t["single_word"] as? Bool ?? false, lstrip: t["lstrip"] as? Bool ?? false,
                    rstrip: t["rstrip"] as? Bool ?? false, normalized: t["normalized"] as? Bool ?? false))
            }
        }
        c.normalizer = try normalizer(json["normalizer"])
        (c.preTokenizer, c.byteLevel) = try preTokenizer(json["pre_tokenizer"])
        (c.prefixIDs, c.suffixIDs) = try postProcessor(json["post_processor"], vocab: vocab, added: c.addedTokens)
        c.decoder = try decoder(json["decoder"])

        // Special token roles.
        let tokenID: (String) -> Int? = { s in c.addedTokens.first(where: { $0.content == s })?.id ?? vocab[s] }
        var special = SpecialTokens()
        if let config {
            special.bos = TokenizerJSON.tokenString(config["bos_token"]).flatMap(tokenID)
            special.eos = TokenizerJSON.tokenString(config["eos_token"]).flatMap(tokenID)
            special.pad = TokenizerJSON.tokenString(config["pad_token"]).flatMap(tokenID)
            special.unk = TokenizerJSON.tokenString(config["unk_token"]).flatMap(tokenID)
            // transformers rebuilds the post-processor when the config says add_bos_token / add_eos_token.
            if config["add_bos_token"] != nil || config["add_eos_token"] != nil {
                let addBOS = config["add_bos_token"] as? Bool ?? false
                let addEOS = config["add_eos_token"] as? Bool ?? false
                c.prefixIDs = addBOS ? special.bos.map { [$0] } ?? [] : []
                c.suffixIDs = addEOS ? special.eos.map { [$0] } ?? [] : []
            }
        } else {
            special.bos = c.prefixIDs.first
            special.unk = c.unkToken.flatMap(tokenID)
            let eosNames = ["</s>", "<|endoftext|>", "<|end_of_text|>", "<|im_end|>", "<|eot_id|>", "<eos>"]
            special.eos = c.suffixIDs.last ?? eosNames.lazy.compactMap(tokenID).first
        }
        special.extraEOS = defaultExtraEOS(c.addedTokens, eos: special.eos)
        c.specialTokens = special
        return c
    }

    func intValue(_ v: Any?) -> Int? {
        if let i = v as? Int { return i }
        if let n = v as? NSNumber { return n.intValue }
        return nil
    }

    func literalPattern(_ v: Any?, in what: String) throws -> String {
        guard let p = v as? [String: Any] else { throw invalid("\(what) has no pattern") }
        if let s = p["String"] as? String { return s }
        if let r = p["Regex"] as? String { throw unsupported("\(what) with regex pattern \(r)") }
        throw invalid("\(what) pattern is neither String nor Regex")
    }

    func normalizer(_ v: Any?) throws -> [NormalizerStep] {
        guard let v, !(v is NSNull) else { return [] }
        guard let d = v as? [String: Any], let type = d["type"] as? String else { throw invalid("normalizer without type") }
        switch type {
        case "Sequence":
            guard let list = d["normalizers"] as? [Any] else { throw invalid("normalizer Sequence without list") }
            return try list.flatMap { try normalizer($0) }
        case "Prepend":
            guard let s = d["prepend"] as? String else { throw invalid("Prepend normalizer without prepend") }
            return [.prepend(Array(s.utf8))]
        case "Replace":
            let pattern = try literalPattern(d["pattern"], in: "Replace normalizer")
            guard let content = d["content"] as? String else { throw invalid("Replace normalizer without content") }
            return [.replace(pattern: Array(pattern.utf8), content: Array(content.utf8))]
        case "NFC": return [.nfc]
        case "NFD": return [.nfd]
        case "NFKC": return [.nfkc]
        case "NFKD": return [.nfkd]
        case "Lowercase": return [.lowercase]
        case "Strip":
            return [.strip(left: d["strip_left"] as? Bool ?? true, right: d["strip_right"] as? Bool ?? true)]
        default:
            throw unsupported("normalizer \(type)")
        }
    }

    func preTokenizer(_ v: Any?) throws -> ([PreTokenizerStep], Bool) {
        guard let v, !(v is NSNull) else { return ([], false) }
        var steps = [PreTokenizerStep]()
        var byteLevel = false
        func add(_ v: Any) throws {
            guard let d = v as? [String: Any], let type = d["type"] as? String else {
                throw invalid("pre_tokenizer without type")
            }
            if byteLevel { throw unsupported("pre-tokenizer \(type) after ByteLevel") }
            switch type {
            case "Sequence":
                guard let list = d["pretokenizers"] as? [Any] else { throw invalid("pre_tokenizer Sequence without list") }
                for x in list { try add(x) }
            case "ByteLevel":
                if d["add_prefix_space"] as? Bool ?? true { steps.append(.prefixSpace) }
                if d["use_regex"] as? Bool ?? true { steps.append(.split(.gpt2)) }
                byteLevel = true
            case "Split":
                guard let p = d["pattern"] as? [String: Any] else { throw invalid("Split pre-tokenizer without pattern") }
                let behavior = (d["behavior"] as? String ?? "").lowercased()
                let invert = d["invert"] as? Bool ?? false
                guard let regex = p["Regex"] as? String, let pattern = SplitPattern(regex: regex) else {
                    let shown = (p["Regex"] as? String).map { "regex \($0)" } ?? "string pattern \(p["String"] ?? "?")"
                    throw unsupported("Split pre-tokenizer with \(shown) (supported: the GPT-2, Llama-3 and Qwen2 regexes)")
                }
                guard behavior == "isolated", !invert else {
                    throw unsupported("Split pre-tokenizer behavior \(behavior)\(invert ? " inverted" : "")")
                }
                steps.append(.split(pattern))
            case "Digits":
                steps.append(.digits(individual: d["individual_digits"] as? Bool ?? false))
            case "Metaspace":
                let rep = (d["replacement"] as? String ?? "\u{2581}").unicodeScalars
                guard rep.count == 1, let r = rep.first else { throw invalid("Metaspace replacement is not one character") }
                var scheme = PrependScheme.always
                if let s = d["prepend_scheme"] as? String {
                    guard let p = PrependScheme(rawValue: s) else { throw unsupported("Metaspace prepend_scheme \(s)") }
                    scheme = p
                } else if let add = d["add_prefix_space"] as? Bool {
                    scheme = add ? .always : .never
                }
                steps.append(.metaspace(replacement: r, prepend: scheme, split: d["split"] as? Bool ?? true))
            default:
                throw unsupported("pre-tokenizer \(type)")
            }
        }
        try add(v)
        return (steps, byteLevel)
    }

    func postProcessor(_ v: Any?, vocab: [String: Int], added: [AddedToken]) throws -> ([Int], [Int]) {
        guard let v, !(v is NSNull) else { return ([], []) }
        guard let d = v as? [String: Any], let type = d["type"] as? String else { throw invalid("post_processor without type") }
        func pairID(_ x: Any?, _ what: String) throws -> Int {
            guard let a = x as? [Any], a.count == 2, let id = intValue(a[1]) else {
                throw invalid("\(type) post-processor \(what) is not [token, id]")
            }
            return id
        }
        switch type {
        case "ByteLevel":
            return ([], [])
        case "TemplateProcessing":
            guard let single = d["single"] as? [[String: Any]] else { throw invalid("TemplateProcessing without single") }
            let specials = d["special_tokens"] as? [String: Any] ?? [:]
            var prefix = [Int](), suffix = [Int](), seenA = false
            for item in single {
                if item["Sequence"] != nil { seenA = true; continue }
                guard let st = item["SpecialToken"] as? [String: Any], let name = st["id"] as? String else {
                    throw invalid("TemplateProcessing item is neither Sequence nor SpecialToken")
                }
                guard let entry = specials[name] as? [String: Any], let ids = entry["ids"] as? [Any] else {
                    throw invalid("TemplateProcessing special token \"\(name)\" is not in special_tokens")
                }
                let list = ids.compactMap(intValue)
                if seenA { suffix += list } else { prefix += list }
            }
            return (prefix, suffix)
        case "RobertaProcessing", "BertProcessing":
            return ([try pairID(d["cls"], "cls")], [try pairID(d["sep"], "sep")])
        case "Sequence":
            guard let list = d["processors"] as? [Any] else { throw invalid("post_processor Sequence without list") }
            var prefix = [Int](), suffix = [Int]()
            for p in list {
                let (a, b) = try postProcessor(p, vocab: vocab, added: added)
                prefix = a + prefix
                suffix += b
            }
            return (prefix, suffix)
        default:
            throw unsupported("post-processor \(type)")
        }
    }

    func decoder(_ v: Any?) throws -> DecoderStep? {
        guard let v, !(v is NSNull) else { return nil }
        guard let d = v as? [String: Any], let type = d["type"] as? String else { throw invalid("decoder without type") }
        switch type {
        case "ByteLevel": return .byteLevel
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Replace":
            let pattern = try literalPattern(d["pattern"], in: "Replace decoder")
            guard let content = d["content"] as? String else { throw invalid("Replace decoder without content") }
            return .replace(pattern: pattern, content: content)
        case "Strip":
            let s = (d["content"] as? String ?? " ").unicodeScalars
            guard s.count == 1, let ch = s.first else { throw invalid("Strip decoder content is not one character") }
            return .strip(content: ch, start: intValue(d["start"]) ?? 0, stop: intValue(d["stop"]) ?? 0)
        case "Metaspace":
            let rep = (d["replacement"] as? String ?? "\u{2581}").unicodeScalars
            guard rep.count == 1, let r = rep.first else { throw invalid("Metaspace replacement is not one character") }
            var scheme = PrependScheme.always
            if let s = d["prepend_scheme"] as? String {
                scheme = PrependScheme(rawValue: s) ?? .always
            } else if let add = d["add_prefix_space"] as? Bool {
                scheme = add ? .always : .never
            }
            return .metaspace(replacement: r, prependScheme: scheme)
        case "Sequence":
            guard let list = d["decoders"] as? [Any] else { throw invalid("decoder Sequence without list") }
            let steps = try list.compactMap { try decoder($0) }
            return steps.count == 1 ? steps[0] : .sequence(steps)
        default:
            throw unsupported("decoder \(type)")
        }
    }
}

/// End-of-turn tokens besides EOS that end generation, among the special added tokens.
func defaultExtraEOS(_ added: [AddedToken], eos: Int?) -> [Int] {
    let names = ["<|im_end|>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>"]
    var out = [Int]()
    for n in names {
        if let t = added.first(where: { $0.content == n && $0.special }), t.id != eos, !out.contains(t.id) {
            out.append(t.id)
        }
    }
    return out
}
