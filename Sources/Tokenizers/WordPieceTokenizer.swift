import Foundation

/// BERT's WordPiece tokenizer as HF `tokenizers` runs it from a `tokenizer.json` (or a `vocab.txt`, as
/// `BertTokenizerFast` builds it): added tokens split out of the raw text, `BertNormalizer`, `BertPreTokenizer`
/// (split on whitespace, isolate punctuation), greedy longest-match-first WordPiece with `##` continuations
/// (`[UNK]` for a word that cannot be covered or is longer than `max_input_chars_per_word` characters), the
/// `[CLS] … [SEP]` post-processor, truncation, and the WordPiece decoder.
///
/// ASCII text goes through a byte-table fast path; other runs of characters are normalized like HF (character
/// classes checked code point by code point against `tokenizers` 0.23.3).
public struct WordPieceTokenizer: Tokenizer {
    public let vocabularySize: Int
    /// `unk` and `pad`; BERT has no BOS/EOS (see `clsID` / `sepID`).
    public let specialTokens: SpecialTokens
    /// `[CLS]`, `[SEP]` and `[MASK]` where the vocabulary has them.
    public let clsID: Int?
    public let sepID: Int?
    public let maskID: Int?
    /// The id `encodeBatch` pads with: `padding.pad_id` of tokenizer.json, else `[PAD]`, else 0.
    public let padID: Int
    /// The longest input the model takes (positions); `encode(_:addSpecialTokens:)` does not truncate to it.
    public var modelMaxLength: Int
    /// `truncation.max_length` of tokenizer.json, if it sets one (all-MiniLM-L6-v2: 128; sentence-transformers
    /// reads 256 for that model). Informational: truncation happens only where a `maxLength` is passed.
    public let configuredTruncation: Int?

    let normalizer: BertNormalizer
    /// Whether the BertPreTokenizer runs (without it a whole segment is one word).
    let preTokenize: Bool
    /// Per ASCII byte: what the normalizer and pre-tokenizer do with it (`ASCIIAction`), and the byte it becomes.
    let asciiAction: [UInt8]
    let asciiMapped: [UInt8]
    let model: WordPieceModel
    let addedTokens: AddedTokenMatcher
    let idToToken: [String?]
    let addedTokenIDs: [String: Int]
    let specialIDs: Set<Int>
    /// The post-processor's ids before and after the sequence (`[CLS]`, `[SEP]`).
    let prefixIDs: [Int]
    let suffixIDs: [Int]
    let decoder: WordPieceDecoder?

    // MARK: - Loading

    /// From a parsed HF `tokenizer.json` whose model is `WordPiece`; `path` is used in error messages only.
    public init(tokenizerJSON json: [String: Any], path: String) throws {
        guard let modelJSON = json["model"] as? [String: Any] else {
            throw TokenizerError.invalid(path: path, reason: "no \"model\" object")
        }
        if let type = modelJSON["type"] as? String, type != "WordPiece" {
            throw TokenizerError.invalid(path: path, reason: "model type is \(type), not WordPiece")
        }
        guard let vocabJSON = modelJSON["vocab"] as? [String: Any] else {
            throw TokenizerError.invalid(path: path, reason: "WordPiece model has no \"vocab\" object")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(vocabJSON.count)
        for (token, value) in vocabJSON {
            guard let id = Self.int(value), id >= 0 else {
                throw TokenizerError.invalid(path: path, reason: "vocab entry \(token.debugDescription) has no valid id")
            }
            vocab[token] = id
        }
        let unkToken = modelJSON["unk_token"] as? String ?? "[UNK]"
        let prefix = modelJSON["continuing_subword_prefix"] as? String ?? "##"
        let maxChars = Self.int(modelJSON["max_input_chars_per_word"]) ?? 100

        // Normalizer.
        var normalizer = BertNormalizer.identity
        switch json["normalizer"] {
        case nil, is NSNull: break
        case let object as [String: Any]:
            guard object["type"] as? String == "BertNormalizer" else {
                throw TokenizerError.unsupported(path: path, feature: "normalizer \(object["type"] ?? "?") (WordPiece)")
            }
            let lowercase = object["lowercase"] as? Bool ?? true
            normalizer = BertNormalizer(
                cleanText: object["clean_text"] as? Bool ?? true,
                handleChineseChars: object["handle_chinese_chars"] as? Bool ?? true,
                stripAccents: object["strip_accents"] as? Bool ?? lowercase, lowercase: lowercase)
        default:
            throw TokenizerError.invalid(path: path, reason: "\"normalizer\" is not an object")
        }

        // Pre-tokenizer.
        var preTokenize = false
        switch json["pre_tokenizer"] {
        case nil, is NSNull: break
        case let object as [String: Any]:
            guard object["type"] as? String == "BertPreTokenizer" else {
                throw TokenizerError.unsupported(path: path, feature: "pre_tokenizer \(object["type"] ?? "?") (WordPiece)")
            }
            preTokenize = true
        default:
            throw TokenizerError.invalid(path: path, reason: "\"pre_tokenizer\" is not an object")
        }

        // Added tokens.
        var added: [AddedToken] = []
        var specialIDs = Set<Int>()
        for item in json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let content = item["content"] as? String, let id = Self.int(item["id"]) else {
                throw TokenizerError.invalid(path: path, reason: "added token without content or id")
            }
            let special = item["special"] as? Bool ?? false
            added.append(AddedToken(
                id: id, content: content, special: special, singleWord: item["single_word"] as? Bool ?? false,
                lstrip: item["lstrip"] as? Bool ?? false, rstrip: item["rstrip"] as? Bool ?? false))
            if special { specialIDs.insert(id) }
        }

        // Post-processor: the single-sequence template.
        var prefixIDs: [Int] = []
        var suffixIDs: [Int] = []
        switch json["post_processor"] {
        case nil, is NSNull: break
        case let object as [String: Any]:
            switch object["type"] as? String {
            case "TemplateProcessing":
                (prefixIDs, suffixIDs) = try Self.parseTemplate(object, vocab: vocab, path: path)
            case "BertProcessing", "RobertaProcessing":
                guard let cls = object["cls"] as? [Any], cls.count == 2, let clsID = Self.int(cls[1]),
                      let sep = object["sep"] as? [Any], sep.count == 2, let sepID = Self.int(sep[1]) else {
                    throw TokenizerError.invalid(path: path, reason: "post_processor without cls/sep")
                }
                prefixIDs = [clsID]
                suffixIDs = [sepID]
            default:
                throw TokenizerError.unsupported(path: path, feature: "post_processor \(object["type"] ?? "?") (WordPiece)")
            }
        default:
            throw TokenizerError.invalid(path: path, reason: "\"post_processor\" is not an object")
        }

        // Decoder.
        var decoder: WordPieceDecoder?
        switch json["decoder"] {
        case nil, is NSNull: break
        case let object as [String: Any]:
            guard object["type"] as? String == "WordPiece" else {
                throw TokenizerError.unsupported(path: path, feature: "decoder \(object["type"] ?? "?") (WordPiece)")
            }
            decoder = WordPieceDecoder(prefix: object["prefix"] as? String ?? "##",
                                       cleanup: object["cleanup"] as? Bool ?? true)
        default:
            throw TokenizerError.invalid(path: path, reason: "\"decoder\" is not an object")
        }

        var padID: Int?
        if let padding = json["padding"] as? [String: Any] { padID = Self.int(padding["pad_id"]) }
        var truncation: Int?
        if let object = json["truncation"] as? [String: Any] { truncation = Self.int(object["max_length"]) }

        try self.init(vocab: vocab, unkToken: unkToken, prefix: prefix, maxInputCharsPerWord: maxChars,
                      normalizer: normalizer, preTokenize: preTokenize, added: added, specialIDs: specialIDs,
                      prefixIDs: prefixIDs, suffixIDs: suffixIDs, decoder: decoder, padID: padID,
                      modelMaxLength: 512, configuredTruncation: truncation, path: path)
    }

    /// From a BERT `vocab.txt` (one token a line, the line number is the id), set up as `BertTokenizerFast` does:
    /// BertNormalizer (accents stripped when lowercasing), `[UNK]`, `##`, 100 characters a word, `[CLS] … [SEP]`,
    /// and `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` as special tokens. `maxLength` is the model's
    /// `modelMaxLength`.
    public init(vocabTXT url: URL, lowercase: Bool = true, maxLength: Int = 512) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        guard String(data: data, encoding: .utf8) != nil else {
            throw TokenizerError.invalid(path: url.path, reason: "not UTF-8")
        }
        var vocab: [String: Int] = [:]
        var lines = Array(data).split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }  // the newline ending the last line
        for (index, line) in lines.enumerated() {
            // HF reads each line with `trim_end()` (which also drops the "\r" of CRLF).
            var token = String(decoding: line, as: UTF8.self).unicodeScalars[...]
            while let last = token.last, BertNormalizer.isWhitespace(last.value) { token = token.dropLast() }
            vocab[String(String.UnicodeScalarView(token))] = index
        }
        guard !vocab.isEmpty else { throw TokenizerError.invalid(path: url.path, reason: "empty vocabulary") }
        let unk = "[UNK]"
        guard vocab[unk] != nil else { throw TokenizerError.invalid(path: url.path, reason: "no [UNK] token") }
        var added: [AddedToken] = []
        for token in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] {
            if let id = vocab[token] { added.append(AddedToken(id: id, content: token, special: true)) }
        }
        try self.init(
            vocab: vocab, unkToken: unk, prefix: "##", maxInputCharsPerWord: 100,
            normalizer: BertNormalizer(cleanText: true, handleChineseChars: true, stripAccents: lowercase,
                                       lowercase: lowercase),
            preTokenize: true, added: added, specialIDs: Set(added.map(\.id)),
            prefixIDs: vocab["[CLS]"].map { [$0] } ?? [], suffixIDs: vocab["[SEP]"].map { [$0] } ?? [],
            decoder: WordPieceDecoder(prefix: "##", cleanup: true), padID: nil, modelMaxLength: maxLength,
            configuredTruncation: nil, path: url.path)
    }

    init(vocab: [String: Int], unkToken: String, prefix: String, maxInputCharsPerWord: Int,
         normalizer: BertNormalizer, preTokenize: Bool, added: [AddedToken], specialIDs: Set<Int>,
         prefixIDs: [Int], suffixIDs: [Int], decoder: WordPieceDecoder?, padID: Int?, modelMaxLength: Int,
         configuredTruncation: Int?, path: String) throws {
        guard let unkID = vocab[unkToken] else {
            throw TokenizerError.invalid(path: path, reason: "unk_token \(unkToken) is not in the vocabulary")
        }
        self.model = WordPieceModel(vocab: vocab, unkID: unkID, prefix: prefix,
                                    maxInputCharsPerWord: maxInputCharsPerWord)
        let maxID = try IDSpace.size(Array(vocab.values) + added.map(\.id), entries: vocab.count + added.count,
                                     path: path) - 1
        var idToToken = [String?](repeating: nil, count: maxID + 1)
        for (token, id) in vocab { idToToken[id] = token }
        var addedTokenIDs: [String: Int] = [:]
        for entry in added {
            idToToken[entry.id] = entry.content
            addedTokenIDs[entry.content] = entry.id
        }
        self.idToToken = idToToken
        self.addedTokenIDs = addedTokenIDs
        self.vocabularySize = maxID + 1
        self.addedTokens = AddedTokenMatcher(added.map { (Array($0.content.utf8), $0) })
        self.specialIDs = specialIDs
        self.normalizer = normalizer
        self.preTokenize = preTokenize
        self.prefixIDs = prefixIDs
        self.suffixIDs = suffixIDs
        self.decoder = decoder
        self.modelMaxLength = modelMaxLength
        self.configuredTruncation = configuredTruncation

        func lookup(_ token: String) -> Int? { addedTokenIDs[token] ?? vocab[token] }
        let pad = padID ?? lookup("[PAD]")
        self.padID = pad ?? 0
        self.clsID = lookup("[CLS]")
        self.sepID = lookup("[SEP]")
        self.maskID = lookup("[MASK]")
        self.specialTokens = SpecialTokens(bos: nil, eos: nil, pad: pad, unk: unkID)

        // The ASCII fast path: normalizer and pre-tokenizer folded into one table.
        var action = [UInt8](repeating: ASCIIAction.keep, count: 128)
        var mapped = [UInt8](repeating: 0, count: 128)
        for byte in 0..<128 {
            var value = UInt8(byte)
            var kind = ASCIIAction.keep
            if normalizer.cleanText {
                if byte == 0 || BertNormalizer.isControl(Unicode.Scalar(value)) {
                    kind = ASCIIAction.drop
                } else if BertNormalizer.isWhitespace(UInt32(byte)) {
                    value = 0x20
                }
            }
            if kind != ASCIIAction.drop {
                if normalizer.lowercase && value >= 0x41 && value <= 0x5A { value += 32 }
                if preTokenize {
                    if BertNormalizer.isWhitespace(UInt32(value)) {
                        kind = ASCIIAction.separate
                    } else if BertNormalizer.isPunctuation(Unicode.Scalar(value)) {
                        kind = ASCIIAction.isolate
                    }
                }
            }
            action[byte] = kind
            mapped[byte] = value
        }
        self.asciiAction = action
        self.asciiMapped = mapped
    }

    // MARK: - Tokenizer

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids = encodeContent(text, limit: nil).ids
        if addSpecialTokens { ids = prefixIDs + ids + suffixIDs }
        return ids
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard id >= 0, id < idToToken.count, let token = idToToken[id] else { continue }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens)
    }

    public func token(for id: Int) -> String? {
        id >= 0 && id < idToToken.count ? idToToken[id] : nil
    }

    public func id(for token: String) -> Int? {
        if let id = addedTokenIDs[token] { return id }
        let bytes = Array(token.utf8)
        let index = model.whole.find(bytes)
        return index < 0 ? nil : Int(model.wholeIDs[index])
    }

    // MARK: - Truncation and batches

    /// The ids of `text` cut to at most `maxLength` ids: with `addSpecialTokens`, `[CLS]` + the first
    /// `maxLength - 2` word pieces + `[SEP]` (as HF truncates a single sequence, `LongestFirst`, stride 0).
    /// Stops tokenizing once the budget is exceeded, so long documents cost little. A `maxLength` below the number
    /// of markers leaves just the markers (HF raises an error there).
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int) -> [Int] {
        encodeReportingTruncation(text, addSpecialTokens: addSpecialTokens, maxLength: maxLength).ids
    }

    /// As `encode(_:addSpecialTokens:maxLength:)`, also saying whether word pieces were cut off.
    public func encodeReportingTruncation(_ text: String, addSpecialTokens: Bool = true,
                                          maxLength: Int) -> (ids: [Int], truncated: Bool) {
        let reserved = addSpecialTokens ? prefixIDs.count + suffixIDs.count : 0
        let budget = max(0, maxLength - reserved)
        var (ids, truncated) = encodeContent(text, limit: budget)
        if addSpecialTokens { ids = prefixIDs + ids + suffixIDs }
        return (ids, truncated)
    }

    /// Encodes every text (truncated to `maxLength`, see `encode(_:addSpecialTokens:maxLength:)`) and pads them
    /// with `padID` to the longest; `mask` is 1 for real tokens and 0 for padding.
    public func encodeBatch(_ texts: [String], maxLength: Int,
                            addSpecialTokens: Bool = true) -> (ids: [[Int]], mask: [[Int]]) {
        var rows = texts.map { encode($0, addSpecialTokens: addSpecialTokens, maxLength: maxLength) }
        let longest = rows.map(\.count).max() ?? 0
        var masks: [[Int]] = []
        masks.reserveCapacity(rows.count)
        for index in rows.indices {
            let length = rows[index].count
            masks.append([Int](repeating: 1, count: length) + [Int](repeating: 0, count: longest - length))
            rows[index].append(contentsOf: repeatElement(padID, count: longest - length))
        }
        return (rows, masks)
    }

    // MARK: - Encoding

    /// The model's ids for `text` without the post-processor's; with a `limit`, at most that many, and whether
    /// more would have followed.
    func encodeContent(_ text: String, limit: Int?) -> (ids: [Int], truncated: Bool) {
        var text = text
        return text.withUTF8 { buffer -> (ids: [Int], truncated: Bool) in
            var state = EncodeState(limit: limit ?? Int.max)
            state.ids.reserveCapacity(min(buffer.count / 3 + 4, limit.map { $0 + 1 } ?? Int.max))
            var segments: [Segment] = []
            if let base = buffer.baseAddress { addedTokens.split(base, 0..<buffer.count, into: &segments) }
            for segment in segments {
                if segment.id >= 0 {
                    state.emit(Int(segment.id))
                } else {
                    encodeSegment(buffer, segment.range, &state)
                }
                if state.done { break }
            }
            if state.ids.count > state.limit {
                state.ids.removeSubrange(state.limit...)
                return (state.ids, true)
            }
            return (state.ids, false)
        }
    }

    struct EncodeState {
        var ids: [Int] = []
        var word: [UInt8] = []
        var wordScalars = 0
        let limit: Int
        var done = false

        init(limit: Int) {
            self.limit = limit
            word.reserveCapacity(64)
        }

        @inline(__always)
        mutating func emit(_ id: Int) {
            ids.append(id)
            if ids.count > limit { done = true }
        }
    }

    /// Normalizes, pre-tokenizes and WordPiece-encodes `buffer[range]` (text between added tokens).
    private func encodeSegment(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ state: inout EncodeState) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end && !state.done {
            let byte = buffer[i]
            if byte < 0x80 {
                let value = asciiMapped[Int(byte)]
                switch asciiAction[Int(byte)] {
                case ASCIIAction.keep:
                    state.word.append(value)
                    state.wordScalars += 1
                case ASCIIAction.separate:
                    flushWord(&state)
                case ASCIIAction.isolate:
                    flushWord(&state)
                    state.word.append(value)
                    state.wordScalars = 1
                    flushWord(&state)
                default:
                    break  // dropped
                }
                i += 1
            } else {
                // A run of non-ASCII characters: the general path. Splitting at ASCII characters is exact:
                // every step works per character except NFD reordering, which never crosses an ASCII starter.
                var j = i + 1
                while j < end && buffer[j] >= 0x80 { j += 1 }
                let run = String(decoding: UnsafeBufferPointer(rebasing: buffer[i..<j]), as: UTF8.self)
                for scalar in normalizer.normalizeScalars(run.unicodeScalars) {
                    feed(scalar, &state)
                    if state.done { break }
                }
                i = j
            }
        }
        flushWord(&state)
    }

    /// The pre-tokenizer on one normalized character.
    @inline(__always)
    private func feed(_ scalar: Unicode.Scalar, _ state: inout EncodeState) {
        let value = scalar.value
        if preTokenize {
            if BertNormalizer.isWhitespace(value) {
                flushWord(&state)
                return
            }
            if BertNormalizer.isPunctuation(scalar) {
                flushWord(&state)
                appendScalar(value, &state.word)
                state.wordScalars = 1
                flushWord(&state)
                return
            }
        }
        appendScalar(value, &state.word)
        state.wordScalars += 1
    }

    @inline(__always)
    private func appendScalar(_ value: UInt32, _ word: inout [UInt8]) {
        switch value {
        case ..<0x80:
            word.append(UInt8(value))
        case ..<0x800:
            word.append(UInt8(0xC0 | (value >> 6)))
            word.append(UInt8(0x80 | (value & 0x3F)))
        case ..<0x10000:
            word.append(UInt8(0xE0 | (value >> 12)))
            word.append(UInt8(0x80 | ((value >> 6) & 0x3F)))
            word.append(UInt8(0x80 | (value & 0x3F)))
        default:
            word.append(UInt8(0xF0 | (value >> 18)))
            word.append(UInt8(0x80 | ((value >> 12) & 0x3F)))
            word.append(UInt8(0x80 | ((value >> 6) & 0x3F)))
            word.append(UInt8(0x80 | (value & 0x3F)))
        }
    }

    @inline(__always)
    private func flushWord(_ state: inout EncodeState) {
        if state.word.isEmpty { return }
        if !state.done {
            model.tokenize(state.word, scalarCount: state.wordScalars, into: &state.ids)
            if state.ids.count > state.limit { state.done = true }
        }
        state.word.removeAll(keepingCapacity: true)
        state.wordScalars = 0
    }

    // MARK: - JSON helpers

    static func int(_ value: Any?) -> Int? {
        switch value {
        case let number as Int: return number
        case let number as NSNumber: return number.intValue
        case let number as Double: return Int(exactly: number)
        default: return nil
        }
    }

    /// The ids of a TemplateProcessing `single` template before and after `$A`.
    static func parseTemplate(_ object: [String: Any], vocab: [String: Int],
                              path: String) throws -> (prefix: [Int], suffix: [Int]) {
        guard let single = object["single"] as? [[String: Any]] else {
            throw TokenizerError.invalid(path: path, reason: "TemplateProcessing without a \"single\" template")
        }
        let specials = object["special_tokens"] as? [String: Any] ?? [:]
        var prefix: [Int] = []
        var suffix: [Int] = []
        var seenSequence = false
        for piece in single {
            if piece["Sequence"] != nil {
                seenSequence = true
            } else if let special = piece["SpecialToken"] as? [String: Any], let name = special["id"] as? String {
                var ids: [Int] = []
                if let entry = specials[name] as? [String: Any], let list = entry["ids"] as? [Any] {
                    ids = list.compactMap { int($0) }
                } else if let id = vocab[name] {
                    ids = [id]
                } else {
                    throw TokenizerError.invalid(path: path, reason: "template token \(name) has no id")
                }
                if seenSequence { suffix += ids } else { prefix += ids }
            } else {
                throw TokenizerError.invalid(path: path, reason: "unknown piece in the TemplateProcessing template")
            }
        }
        return (prefix, suffix)
    }
}

/// The WordPiece model: vocabulary lookups straight from bytes, greedy longest match first.
struct WordPieceModel: Sendable {
    /// Every token, as written.
    let whole: ByteKeyTable
    let wholeIDs: [Int32]
    /// Tokens that start with the continuing-subword prefix, without it.
    let continuation: ByteKeyTable
    let continuationIDs: [Int32]
    let maxWholeBytes: Int
    let maxContinuationBytes: Int
    let unkID: Int
    let maxInputCharsPerWord: Int

    init(vocab: [String: Int], unkID: Int, prefix: String, maxInputCharsPerWord: Int) {
        // Insert in id order so the tables do not depend on dictionary order.
        let sorted = vocab.sorted { $0.value < $1.value }
        var whole = ByteKeyTable(minimumCapacity: sorted.count)
        var wholeIDs: [Int32] = []
        var continuation = ByteKeyTable(minimumCapacity: sorted.count)
        var continuationIDs: [Int32] = []
        var maxWhole = 0
        var maxContinuation = 0
        let prefixBytes = Array(prefix.utf8)
        for (token, id) in sorted {
            let bytes = Array(token.utf8)
            let (index, inserted) = whole.insert(bytes)
            if inserted { wholeIDs.append(Int32(id)) } else { wholeIDs[index] = Int32(id) }
            maxWhole = max(maxWhole, bytes.count)
            if !prefixBytes.isEmpty && bytes.starts(with: prefixBytes) {
                let rest = Array(bytes[prefixBytes.count...])
                let (index, inserted) = continuation.insert(rest)
                if inserted { continuationIDs.append(Int32(id)) } else { continuationIDs[index] = Int32(id) }
                maxContinuation = max(maxContinuation, rest.count)
            } else if prefixBytes.isEmpty {
                let (index, inserted) = continuation.insert(bytes)
                if inserted { continuationIDs.append(Int32(id)) } else { continuationIDs[index] = Int32(id) }
                maxContinuation = max(maxContinuation, bytes.count)
            }
        }
        self.whole = whole
        self.wholeIDs = wholeIDs
        self.continuation = continuation
        self.continuationIDs = continuationIDs
        self.maxWholeBytes = maxWhole
        self.maxContinuationBytes = maxContinuation
        self.unkID = unkID
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    /// Appends the word pieces of `word` (UTF-8 of `scalarCount` characters) to `ids`: `[UNK]` alone when the word
    /// is longer than `maxInputCharsPerWord` or some part of it matches no token.
    func tokenize(_ word: [UInt8], scalarCount: Int, into ids: inout [Int]) {
        if scalarCount > maxInputCharsPerWord {
            ids.append(unkID)
            return
        }
        let mark = ids.count
        word.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            let count = buffer.count
            var start = 0
            while start < count {
                let isFirst = start == 0
                let table = isFirst ? whole : continuation
                var end = min(count, start + (isFirst ? maxWholeBytes : maxContinuationBytes))
                while end < count && end > start && buffer[end] & 0xC0 == 0x80 { end -= 1 }
                var found = -1
                while end > start {
                    let index = table.find(base + start, end - start)
                    if index >= 0 {
                        found = Int(isFirst ? wholeIDs[index] : continuationIDs[index])
                        break
                    }
                    end -= 1
                    while end > start && buffer[end] & 0xC0 == 0x80 { end -= 1 }
                }
                if found < 0 {
                    ids.removeSubrange(mark...)
                    ids.append(unkID)
                    return
                }
                ids.append(found)
                start = end
            }
        }
    }
}

/// HF's WordPiece decoder: continuation pieces lose their prefix and join the previous piece, other pieces get a
/// space; with `cleanup`, each piece then has HF's `cleanup` replacements applied (" ." → ".", " n't" → "n't", …).
struct WordPieceDecoder: Sendable {
    let prefix: String
    let cleanup: Bool

    func decode(_ tokens: [String]) -> String {
        var output: [UInt8] = []
        let prefixBytes = Array(prefix.utf8)
        for (index, token) in tokens.enumerated() {
            var piece = Array(token.utf8)
            if index != 0 {
                if !prefixBytes.isEmpty && piece.starts(with: prefixBytes) {
                    piece.removeFirst(prefixBytes.count)
                } else {
                    piece.insert(0x20, at: 0)
                }
            }
            if cleanup && piece.contains(0x20) {
                for (pattern, replacement) in Self.cleanupRules {
                    piece = Self.replacingAll(piece, pattern, replacement)
                }
            }
            output.append(contentsOf: piece)
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// HF's `decoders::wordpiece::cleanup`, in its order.
    static let cleanupRules: [([UInt8], [UInt8])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.utf8), Array($0.1.utf8)) }

    /// Byte-literal, left-to-right, non-overlapping replacement (Rust's `str::replace`).
    static func replacingAll(_ bytes: [UInt8], _ pattern: [UInt8], _ replacement: [UInt8]) -> [UInt8] {
        guard bytes.count >= pattern.count else { return bytes }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + pattern.count <= bytes.count && bytes[i] == pattern[0]
                && bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                result.append(contentsOf: replacement)
                i += pattern.count
            } else {
                result.append(bytes[i])
                i += 1
            }
        }
        return result
    }
}

extension WordPieceTokenizer {
    /// What the ASCII fast path does with a byte.
    enum ASCIIAction {
        static let keep: UInt8 = 0
        static let drop: UInt8 = 1
        /// Whitespace: ends the word.
        static let separate: UInt8 = 2
        /// Punctuation: a word of its own.
        static let isolate: UInt8 = 3
    }
}
