import Foundation

/// HF decoders (`decode_chain` over token strings, then joined), for BPE tokenizers.
indirect enum DecoderStep: Sendable, Equatable {
    /// Token characters back to bytes through the GPT-2 byte map (a token with another character keeps its UTF-8),
    /// all concatenated and decoded as lossy UTF-8.
    case byteLevel
    /// `Replace` with a literal pattern, in each token.
    case replace(pattern: String, content: String)
    /// Runs of `<0xNN>` tokens to text: valid UTF-8 as is, otherwise one U+FFFD per byte.
    case byteFallback
    /// All tokens joined into one.
    case fuse
    /// Up to `start` leading and `stop` trailing `content` characters removed from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// The replacement character to spaces; in the first token removed instead, unless `prepend_scheme` is never.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case sequence([DecoderStep])

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes = [UInt8]()
            for t in tokens {
                if let b = ByteLevel.decode(t) { bytes += b } else { bytes += Array(t.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .replace(let pattern, let content):
            let p = Array(pattern.utf8), c = Array(content.utf8)
            return tokens.map { String(decoding: replaceAll(Array($0.utf8), p, c), as: UTF8.self) }
        case .byteFallback:
            var out = [String]()
            var pending = [UInt8]()
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for t in tokens {
                if let b = byteFallbackValue(t) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                let chars = Array(t.unicodeScalars)
                var lo = 0
                while lo < min(start, chars.count) && chars[lo] == content { lo += 1 }
                var hi = chars.count
                var removed = 0
                while removed < stop && hi > lo && chars[hi - 1] == content { hi -= 1; removed += 1 }
                var s = String.UnicodeScalarView()
                s.append(contentsOf: chars[lo..<hi])
                return String(s)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, t in
                var s = ""
                for c in t.unicodeScalars {
                    if c == replacement {
                        if !(i == 0 && scheme != .never) { s.unicodeScalars.append(" ") }
                    } else {
                        s.unicodeScalars.append(c)
                    }
                }
                return s
            }
        case .sequence(let steps):
            var t = tokens
            for s in steps { t = s.decodeChain(t) }
            return t
        }
    }

    /// The single step list (sequences flattened).
    var flattened: [DecoderStep] {
        if case .sequence(let s) = self { return s.flatMap(\.flattened) }
        return [self]
    }
}

/// The byte of a `<0xNN>` token (exactly six characters, as HF checks), nil otherwise.
func byteFallbackValue(_ token: String) -> UInt8? {
    let u = Array(token.utf8)
    guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
    func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
    guard let h = hex(u[3]), let l = hex(u[4]) else { return nil }
    return h << 4 | l
}
