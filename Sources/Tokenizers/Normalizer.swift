import Foundation

/// HF normalizers that BPE tokenizers use, applied to UTF-8 bytes.
enum NormalizerStep: Sendable, Equatable {
    /// `Prepend`: the string before non-empty text.
    case prepend([UInt8])
    /// `Replace` with a literal (`{"String": …}`) pattern.
    case replace(pattern: [UInt8], content: [UInt8])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// `Strip`: leading / trailing whitespace.
    case strip(left: Bool, right: Bool)

    func apply(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .prepend(let s):
            return bytes.isEmpty ? bytes : s + bytes
        case .replace(let pattern, let content):
            return replaceAll(bytes, pattern, content)
        case .nfc:
            // Scalars below U+0300 (lead bytes below 0xCC) are never changed or composed by NFC.
            if !bytes.contains(where: { $0 >= 0xCC }) { return bytes }
            return Array(String(decoding: bytes, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8)
        case .nfd:
            if !bytes.contains(where: { $0 >= 0x80 }) { return bytes }
            return Array(String(decoding: bytes, as: UTF8.self).decomposedStringWithCanonicalMapping.utf8)
        case .nfkc:
            if !bytes.contains(where: { $0 >= 0x80 }) { return bytes }
            return Array(String(decoding: bytes, as: UTF8.self).precomposedStringWithCompatibilityMapping.utf8)
        case .nfkd:
            if !bytes.contains(where: { $0 >= 0x80 }) { return bytes }
            return Array(String(decoding: bytes, as: UTF8.self).decomposedStringWithCompatibilityMapping.utf8)
        case .lowercase:
            if !bytes.contains(where: { $0 >= 0x80 }) {
                return bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
            }
            return Array(String(decoding: bytes, as: UTF8.self).lowercased().utf8)
        case .strip(let left, let right):
            let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
            var lo = 0, hi = scalars.count
            if left { while lo < hi && scalars[lo].properties.isWhitespace { lo += 1 } }
            if right { while hi > lo && scalars[hi - 1].properties.isWhitespace { hi -= 1 } }
            var v = String.UnicodeScalarView()
            v.append(contentsOf: scalars[lo..<hi])
            return Array(String(v).utf8)
        }
    }
}

func replaceAll(_ bytes: [UInt8], _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
    guard let first = pattern.first, bytes.count >= pattern.count else { return bytes }
    var out = [UInt8]()
    out.reserveCapacity(bytes.count + bytes.count / 4)
    var i = 0
    let n = bytes.count, m = pattern.count
    bytes.withUnsafeBufferPointer { b in
        pattern.withUnsafeBufferPointer { pt in
            while i < n {
                if b[i] == first && i + m <= n && (m == 1 || memcmp(b.baseAddress! + i, pt.baseAddress!, m) == 0) {
                    out.append(contentsOf: content)
                    i += m
                } else {
                    out.append(b[i])
                    i += 1
                }
            }
        }
    }
    return out
}
