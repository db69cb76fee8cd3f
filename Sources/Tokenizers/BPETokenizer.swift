import Foundation

/// Everything a BPE tokenizer is built from: the parts of a `tokenizer.json`, or of a GGUF's metadata.
struct BPEConfiguration {
    var vocab: [String: Int]
    /// Merge pairs, best first.
    var merges: [(String, String)]
    var unkToken: String? = nil
    var fuseUnk = false
    var byteFallback = false
    var ignoreMerges = false
    var addedTokens: [AddedToken] = []
    var normalizer: [NormalizerStep] = []
    var preTokenizer: [PreTokenizerStep] = []
    /// The pre-tokenizer ends with ByteLevel: the model sees bytes (as GPT-2's characters).
    var byteLevel = false
    /// Ids the post-processor puts around a single sequence.
    var prefixIDs: [Int] = []
    var suffixIDs: [Int] = []
    var decoder: DecoderStep? = nil
    var specialTokens = SpecialTokens()
}

/// Byte-pair-encoding tokenizer compatible with HF `tokenizers`: byte-level BPE (GPT-2, Llama-3, Qwen2, SmolLM2) and
/// SentencePiece-style BPE (Llama-2, Mistral: metaspace, byte fallback). Built from a `tokenizer.json`
/// (`init(tokenizerJSON:config:path:)`, `init(directory:)`) or from a GGUF's vocabulary and merges
/// (`init(tokens:merges:tokenTypes:preTokenizer:specialTokens:addBOS:addEOS:)`). Encoding gives the ids HF gives.
public struct BPETokenizer: Tokenizer {
    public let vocabularySize: Int
    public let specialTokens: SpecialTokens
    /// Added tokens (HF `added_tokens`), matched whole before pre-tokenization.
    public let addedTokens: [AddedToken]
    /// Ids the post-processor adds before / after a sequence when `addSpecialTokens` is true (e.g. BOS).
    public let prefixIDs: [Int]
    public let suffixIDs: [Int]

    let model: BPEModel
    let normalizer: [NormalizerStep]
    let preTokenizer: [PreTokenizerStep]
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    let decoder: DecoderStep?
    /// Token string per id (vocabulary and added tokens; "" for holes).
    let idToToken: [String]
    let tokenToID: [String: Int]
    /// The model's own vocabulary (`model.vocab`, without the added tokens): kept to write `tokenizer.json` back out,
    /// since `tokenToID` mixes in the added tokens and `idToToken` shows their content where it differs.
    let vocab: [String: Int]
    /// Per id: special (left out by `skipSpecialTokens`).
    let isSpecial: [Bool]
    /// Byte-level decoding: each id's bytes, concatenated, and the offsets into them.
    let decodedBytes: [UInt8]
    let decodedOffsets: [Int32]

    init(configuration c: BPEConfiguration, path: String) throws {
        // Id space: vocabulary plus added tokens.
        let maxID = try IDSpace.size(Array(c.vocab.values) + c.addedTokens.map(\.id),
                                     entries: c.vocab.count + c.addedTokens.count, path: path) - 1
        var idToToken = [String](repeating: "", count: maxID + 1)
        for (t, i) in c.vocab { idToToken[i] = t }
        var tokenToID = c.vocab
        var isSpecial = [Bool](repeating: false, count: maxID + 1)
        for t in c.addedTokens {
            idToToken[t.id] = t.content
            tokenToID[t.content] = t.id
            if t.special { isSpecial[t.id] = true }
        }

        // Merges, by id pair.
        let table = PairTable(capacity: c.merges.count)
        for (rank, (a, b)) in c.merges.enumerated() {
            guard let ia = c.vocab[a], let ib = c.vocab[b] else {
                let missing = c.vocab[a] == nil ? a : b
                throw TokenizerError.invalid(path: path,
                                             reason: "merge #\(rank) \"\(a) \(b)\" refers to \"\(missing)\", not in the vocabulary")
            }
            guard let merged = c.vocab[a + b] else {
                throw TokenizerError.invalid(path: path,
                                             reason: "merge #\(rank) \"\(a) \(b)\" makes \"\(a + b)\", not in the vocabulary")
            }
            table.set(Int32(ia), Int32(ib), rank: UInt32(rank), newID: Int32(merged))
        }

        var byteIDs = [Int32](repeating: -1, count: 256)
        var scalarIDs = [UInt32: Int32]()
        if c.byteLevel {
            for b in 0..<256 {
                if let id = c.vocab[String(Character(ByteLevel.byteToScalar[b]))] { byteIDs[b] = Int32(id) }
            }
        } else {
            for (t, i) in c.vocab {
                var it = t.unicodeScalars.makeIterator()
                if let s = it.next(), it.next() == nil { scalarIDs[s.value] = Int32(i) }
            }
        }
        var fallback: [Int32]? = nil
        if c.byteFallback {
            var f = [Int32](repeating: -1, count: 256)
            for b in 0..<256 {
                if let id = c.vocab[String(format: "<0x%02X>", b)] { f[b] = Int32(id) }
            }
            fallback = f
        }
        var unkID: Int32? = nil
        if let u = c.unkToken {
            guard let id = c.vocab[u] else {
                throw TokenizerError.invalid(path: path, reason: "unk_token \"\(u)\" is not in the vocabulary")
            }
            unkID = Int32(id)
        }
        var wholeWords: ByteStringTable? = nil
        if c.ignoreMerges {
            var w = ByteStringTable(capacity: c.vocab.count)
            for (t, i) in c.vocab {
                let key: [UInt8]? = c.byteLevel ? ByteLevel.decode(t) : Array(t.utf8)
                guard let k = key, !k.isEmpty else { continue }
                let h = k.withUnsafeBufferPointer { hashBytes($0.baseAddress!, $0.count) }
                let exists = k.withUnsafeBufferPointer { w.find($0.baseAddress!, $0.count, hash: h) } != nil
                if exists { continue }
                var v = Int32(i)
                k.withUnsafeBufferPointer { kb in
                    withUnsafePointer(to: &v) { w.insert(kb.baseAddress!, kb.count, hash: h,
                                                         values: UnsafeBufferPointer(start: $0, count: 1)) }
                }
            }
            wholeWords = w
        }
        model = BPEModel(merges: table, byteLevel: c.byteLevel, byteIDs: byteIDs, scalarIDs: scalarIDs,
                         byteFallbackIDs: fallback, unkID: unkID, fuseUnk: c.fuseUnk, wholeWords: wholeWords)

        // Added tokens: raw ones match the input, normalized ones the normalized text (their content normalized).
        rawMatcher = AddedTokenMatcher(c.addedTokens.filter { !$0.normalized }.map { (Array($0.content.utf8), $0) })
        normalizedMatcher = AddedTokenMatcher(c.addedTokens.filter { $0.normalized }.map { t in
            var bytes = Array(t.content.utf8)
            for n in c.normalizer { bytes = n.apply(bytes) }
            return (bytes, t)
        })

        // Byte-level decoding table.
        var bytes = [UInt8]()
        var offsets = [Int32](repeating: 0, count: maxID + 2)
        for (i, t) in idToToken.enumerated() {
            offsets[i] = Int32(bytes.count)
            if let b = ByteLevel.decode(t) { bytes += b } else { bytes += Array(t.utf8) }
        }
        offsets[maxID + 1] = Int32(bytes.count)

        self.vocabularySize = maxID + 1
        self.specialTokens = c.specialTokens
        self.addedTokens = c.addedTokens
        self.prefixIDs = c.prefixIDs
        self.suffixIDs = c.suffixIDs
        self.normalizer = c.normalizer
        self.preTokenizer = c.preTokenizer
        self.decoder = c.decoder
        self.idToToken = idToToken
        self.tokenToID = tokenToID
        self.vocab = c.vocab
        self.isSpecial = isSpecial
        self.decodedBytes = c.decoder == .byteLevel ? bytes : []
        self.decodedOffsets = c.decoder == .byteLevel ? offsets : []
    }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids = [Int32]()
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        var text = text
        text.withUTF8 { encodeBytes($0, into: &ids) }
        var out = [Int]()
        out.reserveCapacity(ids.count + prefixIDs.count + suffixIDs.count)
        if addSpecialTokens { out += prefixIDs }
        for i in ids { out.append(Int(i)) }
        if addSpecialTokens { out += suffixIDs }
        return out
    }

    /// Ids of many texts, encoded concurrently.
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true) -> [[Int]] {
        var results = [[Int]](repeating: [], count: texts.count)
        results.withUnsafeMutableBufferPointer { out in
            let base = UncheckedSendable(out.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: texts.count) { i in
                base.value[i] = encode(texts[i], addSpecialTokens: addSpecialTokens)
            }
        }
        return results
    }

    private func encodeBytes(_ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int32]) {
        guard let base = text.baseAddress, text.count > 0 else { return }
        var scratch = BPEScratch()
        var segments = [Segment]()
        rawMatcher.split(base, 0..<text.count, into: &segments)
        for seg in segments {
            if seg.id >= 0 { ids.append(seg.id); continue }
            let atOrigin = seg.range.lowerBound == 0
            if normalizer.isEmpty && normalizedMatcher.isEmpty {
                encodeText(UnsafeBufferPointer(start: base + seg.range.lowerBound, count: seg.range.count),
                           atOrigin: atOrigin, into: &ids, scratch: &scratch)
                continue
            }
            var bytes = Array(UnsafeBufferPointer(start: base + seg.range.lowerBound, count: seg.range.count))
            for n in normalizer { bytes = n.apply(bytes) }
            bytes.withUnsafeBufferPointer { nb in
                guard let nbase = nb.baseAddress, nb.count > 0 else { return }
                var inner = [Segment]()
                normalizedMatcher.split(nbase, 0..<nb.count, into: &inner)
                for s in inner {
                    if s.id >= 0 { ids.append(s.id); continue }
                    encodeText(UnsafeBufferPointer(start: nbase + s.range.lowerBound, count: s.range.count),
                               atOrigin: atOrigin && s.range.lowerBound == 0, into: &ids, scratch: &scratch)
                }
            }
        }
    }

    private func encodeText(_ text: UnsafeBufferPointer<UInt8>, atOrigin: Bool, into ids: inout [Int32],
                            scratch: inout BPEScratch) {
        var ranges = scratch.ranges, spare = scratch.spare
        preTokenize(text, steps: preTokenizer, atOrigin: atOrigin, ranges: &ranges, spare: &spare) { p, r in
            model.tokenize(p, r, into: &ids, scratch: &scratch)
        }
        scratch.ranges = ranges
        scratch.spare = spare
    }

    // MARK: Decoding

    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        if decoder == .byteLevel {
            var bytes = [UInt8]()
            bytes.reserveCapacity(ids.count * 4)
            decodedBytes.withUnsafeBufferPointer { all in
                for id in ids where id >= 0 && id < vocabularySize {
                    if skipSpecialTokens && isSpecial[id] { continue }
                    let s = Int(decodedOffsets[id]), e = Int(decodedOffsets[id + 1])
                    bytes.append(contentsOf: all[s..<e])
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        let tokens = tokenStrings(ids, skipSpecialTokens: skipSpecialTokens)
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }

    func tokenStrings(_ ids: [Int], skipSpecialTokens: Bool) -> [String] {
        var tokens = [String]()
        tokens.reserveCapacity(ids.count)
        for id in ids where id >= 0 && id < vocabularySize {
            if skipSpecialTokens && isSpecial[id] { continue }
            tokens.append(idToToken[id])
        }
        return tokens
    }

    /// Whether `id` is a special token (left out by `skipSpecialTokens`).
    public func isSpecialToken(_ id: Int) -> Bool { id >= 0 && id < isSpecial.count && isSpecial[id] }

    public func token(for id: Int) -> String? {
        guard id >= 0 && id < idToToken.count, tokenToID[idToToken[id]] != nil else { return nil }
        return idToToken[id]
    }

    public func id(for token: String) -> Int? { tokenToID[token] }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
