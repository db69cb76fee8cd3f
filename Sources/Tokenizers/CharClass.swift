import Foundation

/// Character classes the pre-tokenizer regexes test, as bit flags: `\p{L}`, `\p{N}`, `\s` (White_Space, which is what
/// Oniguruma's `\s` matches: `\t\n\v\f\r`, U+0085 and the Zs/Zl/Zp separators), and the Rust regex `\w` that added
/// tokens' `single_word` tests (`alphanumeric`). A scalar with none of L, N, S is "other".
enum CharClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 4
    static let alphanumeric: UInt8 = 8

    /// Classes of every BMP scalar, computed once (65,536 bytes, never freed, read-only).
    nonisolated(unsafe) static let bmp: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
        for v in 0..<0x10000 {
            table[v] = Unicode.Scalar(UInt32(v)).map(compute) ?? 0
        }
        return UnsafePointer(table)
    }()

    /// The Unicode version of HF `tokenizers`' regex engine (Oniguruma 6.9.10 in tokenizers 0.23): characters
    /// assigned later are unassigned ("other") there, so they are here too.
    static let unicodeVersion = (major: 16, minor: 0)

    static func compute(_ s: Unicode.Scalar) -> UInt8 {
        let p = s.properties
        guard let age = p.age, (age.major, age.minor) <= unicodeVersion else { return 0 }
        var c: UInt8 = 0
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: c |= letter
        case .decimalNumber, .letterNumber, .otherNumber: c |= number
        default: break
        }
        if p.isWhitespace { c |= space }
        // Rust regex `\w` (added tokens' single_word test): Alphabetic, marks, Nd, Pc, Join_Control.
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: c |= alphanumeric
        default: if p.isAlphabetic || p.isJoinControl { c |= alphanumeric }
        }
        return c
    }

    @inline(__always)
    static func of(_ v: UInt32, _ table: UnsafePointer<UInt8>) -> UInt8 {
        if v < 0x10000 { return table[Int(v)] }
        return Unicode.Scalar(v).map(compute) ?? 0
    }

    static func of(_ s: Unicode.Scalar) -> UInt8 { of(s.value, bmp) }
}

/// Decodes the scalar starting at `i` of valid UTF-8 (Swift strings are always valid); returns it and its length.
@inline(__always)
func decodeScalar(_ p: UnsafePointer<UInt8>, _ i: Int) -> (UInt32, Int) {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0 { return (((b0 & 0x1F) << 6) | (UInt32(p[i + 1]) & 0x3F), 2) }
    if b0 < 0xF0 {
        return (((b0 & 0x0F) << 12) | ((UInt32(p[i + 1]) & 0x3F) << 6) | (UInt32(p[i + 2]) & 0x3F), 3)
    }
    return (((b0 & 0x07) << 18) | ((UInt32(p[i + 1]) & 0x3F) << 12) | ((UInt32(p[i + 2]) & 0x3F) << 6)
            | (UInt32(p[i + 3]) & 0x3F), 4)
}

/// Length of the scalar whose lead byte is `b` in valid UTF-8.
@inline(__always)
func scalarLength(_ b: UInt8) -> Int {
    b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
}

/// Start of the scalar that ends right before `end` (valid UTF-8).
@inline(__always)
func previousScalarStart(_ p: UnsafePointer<UInt8>, _ end: Int) -> Int {
    var k = end - 1
    while k > 0 && p[k] & 0xC0 == 0x80 { k -= 1 }
    return k
}
