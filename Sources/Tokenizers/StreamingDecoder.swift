import Foundation

/// Decodes ids one at a time (as a model generates them) into text, returning only complete UTF-8: a character whose
/// bytes are spread over several tokens (byte-level BPE, or `<0xNN>` byte-fallback tokens) comes out once its last
/// byte arrives. The concatenation of everything `push` and `finish` return equals `tokenizer.decode(allIDs)` for
/// every sequence that decodes to valid UTF-8 (and for byte-level tokenizers, for every sequence).
///
///     var stream = StreamingDecoder(tokenizer: tok, skipSpecialTokens: true)
///     for id in generated { print(stream.push(id), terminator: "") }
///     print(stream.finish())
public struct StreamingDecoder {
    private enum Mode {
        /// Byte-level BPE: bytes per id; hold back an incomplete trailing UTF-8 sequence.
        case byteLevel(BPETokenizer)
        /// SentencePiece chains: per-token Replace / Metaspace, `<0xNN>` runs, Fuse, leading Strip.
        case pieces(BPETokenizer, perToken: [DecoderStep], byteFallback: Bool, strip: (Unicode.Scalar, Int)?)
        /// Anything else: decode everything so far and return what was added (quadratic; not for long outputs).
        case generic(any Tokenizer)
    }

    private let mode: Mode
    public let skipSpecialTokens: Bool
    private var pending: [UInt8] = []
    private var tokenIndex = 0
    private var stripLeft = 0
    private var ids: [Int] = []
    private var emitted = ""

    public init(tokenizer: any Tokenizer, skipSpecialTokens: Bool = false) {
        self.skipSpecialTokens = skipSpecialTokens
        guard let bpe = tokenizer as? BPETokenizer, let decoder = bpe.decoder else {
            mode = .generic(tokenizer)
            return
        }
        if decoder == .byteLevel {
            mode = .byteLevel(bpe)
            return
        }
        // (Replace | Metaspace)* ByteFallback? Fuse? Strip(c, n, 0)? -- Strip only after Fuse (whole text).
        var steps = decoder.flattened[...]
        var perToken = [DecoderStep]()
        while let s = steps.first {
            if case .replace = s { perToken.append(s); steps = steps.dropFirst(); continue }
            if case .metaspace = s { perToken.append(s); steps = steps.dropFirst(); continue }
            break
        }
        var byteFallback = false, fused = false
        var strip: (Unicode.Scalar, Int)? = nil
        if steps.first == .byteFallback { byteFallback = true; steps = steps.dropFirst() }
        if steps.first == .fuse { fused = true; steps = steps.dropFirst() }
        if fused, case .strip(let c, let start, 0)? = steps.first { strip = (c, start); steps = steps.dropFirst() }
        if steps.isEmpty {
            mode = .pieces(bpe, perToken: perToken, byteFallback: byteFallback, strip: strip)
            stripLeft = strip?.1 ?? 0
        } else {
            mode = .generic(tokenizer)
        }
    }

    /// The text that `id` completes (often "", or several characters at once).
    public mutating func push(_ id: Int) -> String {
        switch mode {
        case .byteLevel(let t):
            guard id >= 0 && id < t.vocabularySize, !(skipSpecialTokens && t.isSpecial[id]) else { return "" }
            let s = Int(t.decodedOffsets[id]), e = Int(t.decodedOffsets[id + 1])
            pending.append(contentsOf: t.decodedBytes[s..<e])
            let cut = completePrefix(pending)
            guard cut > 0 else { return "" }
            let text = String(decoding: pending[0..<cut], as: UTF8.self)
            pending.removeFirst(cut)
            return text
        case .pieces(let t, let perToken, let byteFallback, _):
            guard id >= 0 && id < t.vocabularySize, !(skipSpecialTokens && t.isSpecial[id]) else { return "" }
            var token = [t.idToToken[id]]
            for step in perToken {
                if case .metaspace(let r, let scheme) = step {
                    var s = String.UnicodeScalarView()
                    for c in token[0].unicodeScalars {
                        if c == r {
                            if !(tokenIndex == 0 && scheme != .never) { s.append(" ") }
                        } else {
                            s.append(c)
                        }
                    }
                    token = [String(s)]
                } else {
                    token = step.decodeChain(token)
                }
            }
            tokenIndex += 1
            if byteFallback, let b = byteFallbackValue(token[0]) {
                pending.append(b)
                guard let s = String(validating: pending, as: UTF8.self) else { return "" }
                pending.removeAll()
                return stripped(s)
            }
            return stripped(flushInvalidRun() + token[0])
        case .generic(let t):
            ids.append(id)
            let text = t.decode(ids, skipSpecialTokens: skipSpecialTokens)
            guard text.utf8.starts(with: emitted.utf8), !text.hasSuffix("\u{FFFD}") else { return "" }
            let new = String(decoding: Array(text.utf8.dropFirst(emitted.utf8.count)), as: UTF8.self)
            emitted = text
            return new
        }
    }

    /// The rest (bytes still held back, as U+FFFD where incomplete), ending the stream.
    public mutating func finish() -> String {
        switch mode {
        case .byteLevel:
            let text = String(decoding: pending, as: UTF8.self)
            pending.removeAll()
            return text
        case .pieces:
            return stripped(flushInvalidRun())
        case .generic(let t):
            let text = t.decode(ids, skipSpecialTokens: skipSpecialTokens)
            let new = text.utf8.starts(with: emitted.utf8)
                ? String(decoding: Array(text.utf8.dropFirst(emitted.utf8.count)), as: UTF8.self) : ""
            emitted = text
            return new
        }
    }

    /// A byte-fallback run that never became valid UTF-8: one U+FFFD per byte, as HF's ByteFallback decoder.
    private mutating func flushInvalidRun() -> String {
        guard !pending.isEmpty else { return "" }
        let s = String(repeating: "\u{FFFD}", count: pending.count)
        pending.removeAll()
        return s
    }

    /// Strip(content, start) after Fuse: leading `content` characters of the whole text.
    private mutating func stripped(_ s: String) -> String {
        guard stripLeft > 0, case .pieces(_, _, _, let strip?) = mode, !s.isEmpty else { return s }
        var scalars = s.unicodeScalars[...]
        while stripLeft > 0, let f = scalars.first, f == strip.0 {
            scalars = scalars.dropFirst()
            stripLeft -= 1
        }
        if !scalars.isEmpty { stripLeft = 0 }
        return String(String.UnicodeScalarView(scalars))
    }
}

/// Length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence that may still be completed.
/// Cutting there decodes (lossily) exactly as decoding the whole: the rest starts with a lead byte.
func completePrefix(_ bytes: [UInt8]) -> Int {
    let n = bytes.count
    var j = n - 1
    var continuation = 0
    while j >= 0 && bytes[j] & 0xC0 == 0x80 && continuation < 3 {
        j -= 1
        continuation += 1
    }
    guard j >= 0 else { return n }
    let lead = bytes[j]
    let need: Int
    switch lead {
    case 0xC2...0xDF: need = 2
    case 0xE0...0xEF: need = 3
    case 0xF0...0xF4: need = 4
    default: return n  // ASCII, or a byte that never starts a sequence
    }
    if n - j >= need { return n }
    // Still incomplete: hold it back unless its second byte already rules it out.
    if n - j >= 2 {
        let b1 = bytes[j + 1]
        let ok: Bool
        switch lead {
        case 0xE0: ok = b1 >= 0xA0
        case 0xED: ok = b1 <= 0x9F
        case 0xF0: ok = b1 >= 0x90
        case 0xF4: ok = b1 <= 0x8F
        default: ok = true
        }
        if !ok { return n }
    }
    return j
}
