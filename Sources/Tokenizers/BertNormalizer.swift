import Foundation

/// HF `tokenizers`' `BertNormalizer`, in its order: clean text (drop NUL, U+FFFD and control / format / private-use
/// characters; map every whitespace character to U+0020), put spaces around CJK ideographs, strip accents (NFD, then
/// drop non-spacing marks), lowercase (per character, the full mapping: "İ" → "i̇", "Σ" → "σ" wherever it stands).
///
/// Character classes follow the Rust definitions HF uses (`char::is_whitespace`, the `unicode_categories` crate),
/// checked code point by code point against `tokenizers` 0.23 (see `WordPieceTests`).
struct BertNormalizer: Sendable, Equatable {
    var cleanText: Bool
    var handleChineseChars: Bool
    var stripAccents: Bool
    var lowercase: Bool

    /// Every step off: the identity.
    static let identity = BertNormalizer(cleanText: false, handleChineseChars: false, stripAccents: false,
                                         lowercase: false)

    /// Normalizes `text` (any characters) as HF does, returning its scalars.
    func normalizeScalars<S: Sequence<Unicode.Scalar>>(_ text: S) -> [Unicode.Scalar] {
        var stage: [Unicode.Scalar] = []
        stage.reserveCapacity(text.underestimatedCount + 8)
        for original in text {
            var scalar = original
            if cleanText {
                let value = scalar.value
                if value == 0 || value == 0xFFFD || Self.isControl(scalar) { continue }
                if Self.isWhitespace(value) { scalar = " " }
            }
            if handleChineseChars && Self.isChineseChar(scalar.value) {
                stage.append(" ")
                stage.append(scalar)
                stage.append(" ")
            } else {
                stage.append(scalar)
            }
        }
        if stripAccents {
            stage = Self.stripAccents(stage)
        }
        if lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(stage.count)
            for scalar in stage { Self.appendLowercase(scalar, to: &lowered) }
            stage = lowered
        }
        return stage
    }

    /// The normalized text (for tests and tools; the tokenizer uses `normalizeScalars` on non-ASCII runs).
    func normalize(_ text: String) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: normalizeScalars(text.unicodeScalars))
        return String(view)
    }

    // MARK: - Steps

    /// NFD, then every non-spacing mark (Mn) removed.
    static func stripAccents(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Nothing below U+00C0 decomposes canonically or has a non-zero combining class.
        if scalars.allSatisfy({ $0.value < 0xC0 }) { return scalars }
        var result = CanonicalDecomposition.nfd(scalars)
        result.removeAll { isNonspacingMark($0) }
        return result
    }

    /// Appends Rust's `char::to_lowercase` of `scalar` (the unconditional full mapping).
    @inline(__always)
    static func appendLowercase(_ scalar: Unicode.Scalar, to output: inout [Unicode.Scalar]) {
        let value = scalar.value
        if value < 0x80 {
            output.append(value >= 0x41 && value <= 0x5A ? Unicode.Scalar(UInt8(value + 32)) : scalar)
        } else if value < 0x20000, let mapping = lowercaseMappings[value] {
            output.append(contentsOf: mapping)
        } else {
            output.append(scalar)
        }
    }

    /// Every non-ASCII scalar that changes when lowercased (all are below U+20000), with its full mapping.
    static let lowercaseMappings: [UInt32: [Unicode.Scalar]] = {
        var table: [UInt32: [Unicode.Scalar]] = [:]
        for value in UInt32(0x80)..<0x20000 {
            guard let scalar = Unicode.Scalar(value), scalar.properties.changesWhenLowercased else { continue }
            table[value] = Array(scalar.properties.lowercaseMapping.unicodeScalars)
        }
        return table
    }()

    // MARK: - Character classes

    /// Rust's `char::is_whitespace` (the Unicode White_Space property), which HF's `is_whitespace` extends with
    /// nothing (tab, LF and CR are White_Space already).
    @inline(__always)
    static func isWhitespace(_ value: UInt32) -> Bool {
        switch value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// HF's `is_control`: `char::is_other` (categories Cc, Cf, Co, Cs, as of the `unicode_categories` crate)
    /// except tab, LF and CR. Unassigned code points are not "other" there, and characters assigned later than the
    /// crate's tables are neither.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value == 0x09 || value == 0x0A || value == 0x0D { return false }
        if value < 0x20 || (value >= 0x7F && value < 0xA0) { return true }
        if value < 0xA0 { return false }
        if let override = HFUnicodeTables.otherOverride(value) { return override }
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// HF's `is_chinese_char`: the CJK Unified Ideographs blocks and the compatibility ideographs.
    @inline(__always)
    static func isChineseChar(_ value: UInt32) -> Bool {
        switch value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// HF's `is_bert_punc`: ASCII punctuation (33–47, 58–64, 91–96, 123–126) or a Unicode P* character.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (value >= 33 && value <= 47) || (value >= 58 && value <= 64) || (value >= 91 && value <= 96)
                || (value >= 123 && value <= 126)
        }
        if let override = HFUnicodeTables.punctuationOverride(value) { return override }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// A non-spacing mark (Mn) as HF's tables see it.
    static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x300 { return false }
        if let override = HFUnicodeTables.nonspacingMarkOverride(value) { return override }
        return scalar.properties.generalCategory == .nonspacingMark
    }
}

/// Canonical decomposition (NFD) with HF's data: each scalar replaced by its full canonical decomposition (Hangul
/// syllables algorithmically, the others from a table filled once from Foundation for the code points that
/// decompose in HF's Unicode version), then runs of non-starters stably sorted by combining class.
enum CanonicalDecomposition {
    static func nfd(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var output: [Unicode.Scalar] = []
        output.reserveCapacity(scalars.count + 4)
        var hasNonStarter = false
        for scalar in scalars {
            let value = scalar.value
            if value >= 0xAC00 && value <= 0xD7A3 {
                let index = value - 0xAC00
                output.append(Unicode.Scalar(0x1100 + index / 588)!)
                output.append(Unicode.Scalar(0x1161 + (index % 588) / 28)!)
                if index % 28 != 0 { output.append(Unicode.Scalar(0x11A7 + index % 28)!) }
                continue
            }
            if value >= 0xC0, let decomposed = table[value] {
                output.append(contentsOf: decomposed)
                hasNonStarter = true  // most decompositions end in a combining mark
                continue
            }
            if value >= 0x300 && !hasNonStarter && scalar.properties.canonicalCombiningClass.rawValue != 0 {
                hasNonStarter = true
            }
            output.append(scalar)
        }
        if hasNonStarter { reorder(&output) }
        return output
    }

    /// Canonical ordering: each maximal run of non-starters sorted stably by combining class.
    static func reorder(_ scalars: inout [Unicode.Scalar]) {
        var i = 0
        while i < scalars.count {
            if scalars[i].value < 0x300 || scalars[i].properties.canonicalCombiningClass.rawValue == 0 {
                i += 1
                continue
            }
            var j = i + 1
            while j < scalars.count && scalars[j].value >= 0x300
                    && scalars[j].properties.canonicalCombiningClass.rawValue != 0 {
                j += 1
            }
            if j - i > 1 {
                let sorted = scalars[i..<j].enumerated().sorted {
                    let a = $0.element.properties.canonicalCombiningClass.rawValue
                    let b = $1.element.properties.canonicalCombiningClass.rawValue
                    return a != b ? a < b : $0.offset < $1.offset
                }
                scalars.replaceSubrange(i..<j, with: sorted.map(\.element))
            }
            i = j
        }
    }

    /// Full canonical decompositions of the non-Hangul code points that have one (HF's Unicode version; U+11938,
    /// decomposable only since Unicode 13, is left out as HF leaves it whole).
    static let table: [UInt32: [Unicode.Scalar]] = {
        var table: [UInt32: [Unicode.Scalar]] = [:]
        for (low, high) in HFUnicodeTables.canonicalDecomposable {
            for value in low...high where !HFUnicodeTables.keepsUndecomposed(value) {
                guard let scalar = Unicode.Scalar(value) else { continue }
                let decomposed = Array(String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars)
                if decomposed != [scalar] { table[value] = decomposed }
            }
        }
        return table
    }()
}

/// Where HF's character tables (the `unicode_categories` and `unicode-normalization-alignments` crates, an old
/// Unicode version) disagree with the Unicode version of this Swift runtime (6.3): HF's answer for each range.
/// Made by comparing every code point with `tokenizers` 0.23.3 (BertNormalizer steps one at a time, and
/// BertPreTokenizer on "a" + c + "a"); lowercasing and NFD agreed everywhere except U+11938, which HF leaves whole.
enum HFUnicodeTables {
    static func otherOverride(_ value: UInt32) -> Bool? {
        value < 0x890 ? nil : lookup(value, in: other)
    }
    static func punctuationOverride(_ value: UInt32) -> Bool? {
        value < 0x61D ? nil : lookup(value, in: punctuation)
    }
    static func nonspacingMarkOverride(_ value: UInt32) -> Bool? {
        value < 0x7FD ? nil : lookup(value, in: nonspacingMark)
    }
    /// Scalars HF's NFD leaves as they are (their decompositions came in later Unicode versions).
    static func keepsUndecomposed(_ value: UInt32) -> Bool { value == 0x11938 }

    /// Binary search over sorted, disjoint, inclusive ranges.
    static func lookup(_ value: UInt32, in table: [(UInt32, UInt32, Bool)]) -> Bool? {
        var low = 0
        var high = table.count
        while low < high {
            let middle = (low + high) / 2
            let entry = table[middle]
            if value < entry.0 {
                high = middle
            } else if value > entry.1 {
                low = middle + 1
            } else {
                return entry.2
            }
        }
        return nil
    }

    // Ranges (first, last, HF's answer): Cc/Cf/Co/Cs ("other"), P* punctuation, Mn.
    static let other: [(UInt32, UInt32, Bool)] = [
        (0x890, 0x891, false), (0x8E2, 0x8E2, false), (0x110CD, 0x110CD, false), (0x13430, 0x1343F, false),
    ]
    static let punctuation: [(UInt32, UInt32, Bool)] = [
        (0x61D, 0x61D, false), (0x9FD, 0x9FD, false), (0xA76, 0xA76, false), (0xC77, 0xC77, false),
        (0xC84, 0xC84, false), (0x166D, 0x166D, true), (0x1B4E, 0x1B4F, false), (0x1B7D, 0x1B7F, false),
        (0x2E43, 0x2E4F, false), (0x2E52, 0x2E5D, false), (0x10D6E, 0x10D6E, false), (0x10EAD, 0x10EAD, false),
        (0x10ED0, 0x10ED0, false), (0x10F55, 0x10F59, false), (0x10F86, 0x10F89, false), (0x111C9, 0x111C9, true),
        (0x113D4, 0x113D5, false), (0x113D7, 0x113D8, false), (0x1144B, 0x1144F, false), (0x1145A, 0x1145B, false),
        (0x1145D, 0x1145D, false), (0x11660, 0x1166C, false), (0x116B9, 0x116B9, false), (0x1183B, 0x1183B, false),
        (0x11944, 0x11946, false), (0x119E2, 0x119E2, false), (0x11A3F, 0x11A46, false), (0x11A9A, 0x11A9C, false),
        (0x11A9E, 0x11AA2, false), (0x11B00, 0x11B09, false), (0x11BE1, 0x11BE1, false), (0x11C41, 0x11C45, false),
        (0x11C70, 0x11C71, false), (0x11EF7, 0x11EF8, false), (0x11F43, 0x11F4F, false), (0x11FFF, 0x11FFF, false),
        (0x12FF1, 0x12FF2, false), (0x16D6D, 0x16D6F, false), (0x16E97, 0x16E9A, false), (0x16FE2, 0x16FE2, false),
        (0x1E5FF, 0x1E5FF, false), (0x1E95E, 0x1E95F, false),
    ]
    static let nonspacingMark: [(UInt32, UInt32, Bool)] = [
        (0x7FD, 0x7FD, false), (0x897, 0x89F, false), (0x8CA, 0x8E1, false), (0x9FE, 0x9FE, false),
        (0xAFA, 0xAFF, false), (0xB55, 0xB55, false), (0xC04, 0xC04, false), (0xC3C, 0xC3C, false),
        (0xD00, 0xD00, false), (0xD3B, 0xD3C, false), (0xD81, 0xD81, false), (0xEBA, 0xEBA, false),
        (0xECE, 0xECE, false), (0x1734, 0x1734, true), (0x180F, 0x180F, false), (0x1885, 0x1886, false),
        (0x1ABF, 0x1ADD, false), (0x1AE0, 0x1AEB, false), (0x1DF6, 0x1DFB, false), (0xA82C, 0xA82C, false),
        (0xA8C5, 0xA8C5, false), (0xA8FF, 0xA8FF, false), (0xA9BD, 0xA9BD, false), (0x10D24, 0x10D27, false),
        (0x10D69, 0x10D6D, false), (0x10EAB, 0x10EAC, false), (0x10EFA, 0x10EFF, false), (0x10F46, 0x10F50, false),
        (0x10F82, 0x10F85, false), (0x11070, 0x11070, false), (0x11073, 0x11074, false), (0x110C2, 0x110C2, false),
        (0x111C9, 0x111C9, false), (0x111CF, 0x111CF, false), (0x1123E, 0x1123E, false), (0x11241, 0x11241, false),
        (0x1133B, 0x1133B, false), (0x113BB, 0x113C0, false), (0x113CE, 0x113CE, false), (0x113D0, 0x113D0, false),
        (0x113D2, 0x113D2, false), (0x113E1, 0x113E2, false), (0x11438, 0x1143F, false), (0x11442, 0x11444, false),
        (0x11446, 0x11446, false), (0x1145E, 0x1145E, false), (0x1171E, 0x1171E, true), (0x1182F, 0x11837, false),
        (0x11839, 0x1183A, false), (0x1193B, 0x1193C, false), (0x1193E, 0x1193E, false), (0x11943, 0x11943, false),
        (0x119D4, 0x119D7, false), (0x119DA, 0x119DB, false), (0x119E0, 0x119E0, false), (0x11A01, 0x11A0A, false),
        (0x11A33, 0x11A38, false), (0x11A3B, 0x11A3E, false), (0x11A47, 0x11A47, false), (0x11A51, 0x11A56, false),
        (0x11A59, 0x11A5B, false), (0x11A8A, 0x11A96, false), (0x11A98, 0x11A99, false), (0x11B60, 0x11B60, false),
        (0x11B62, 0x11B64, false), (0x11B66, 0x11B66, false), (0x11C30, 0x11C36, false), (0x11C38, 0x11C3D, false),
        (0x11C3F, 0x11C3F, false), (0x11C92, 0x11CA7, false), (0x11CAA, 0x11CB0, false), (0x11CB2, 0x11CB3, false),
        (0x11CB5, 0x11CB6, false), (0x11D31, 0x11D36, false), (0x11D3A, 0x11D3A, false), (0x11D3C, 0x11D3D, false),
        (0x11D3F, 0x11D45, false), (0x11D47, 0x11D47, false), (0x11D90, 0x11D91, false), (0x11D95, 0x11D95, false),
        (0x11D97, 0x11D97, false), (0x11EF3, 0x11EF4, false), (0x11F00, 0x11F01, false), (0x11F36, 0x11F3A, false),
        (0x11F40, 0x11F40, false), (0x11F42, 0x11F42, false), (0x11F5A, 0x11F5A, false), (0x13440, 0x13440, false),
        (0x13447, 0x13455, false), (0x1611E, 0x16129, false), (0x1612D, 0x1612F, false), (0x16F4F, 0x16F4F, false),
        (0x16FE4, 0x16FE4, false), (0x1CF00, 0x1CF2D, false), (0x1CF30, 0x1CF46, false), (0x1E000, 0x1E006, false),
        (0x1E008, 0x1E018, false), (0x1E01B, 0x1E021, false), (0x1E023, 0x1E024, false), (0x1E026, 0x1E02A, false),
        (0x1E08F, 0x1E08F, false), (0x1E130, 0x1E136, false), (0x1E2AE, 0x1E2AE, false), (0x1E2EC, 0x1E2EF, false),
        (0x1E4EC, 0x1E4EF, false), (0x1E5EE, 0x1E5EF, false), (0x1E6E3, 0x1E6E3, false), (0x1E6E6, 0x1E6E6, false),
        (0x1E6EE, 0x1E6EF, false), (0x1E6F5, 0x1E6F5, false), (0x1E944, 0x1E94A, false),
    ]

    /// Code points with a canonical decomposition (Unicode 14 data, Hangul syllables excepted: those decompose
    /// algorithmically). Only used to fill `CanonicalDecomposition.table` from Foundation.
    static let canonicalDecomposable: [(UInt32, UInt32)] = [
        (0xC0, 0xC5), (0xC7, 0xCF), (0xD1, 0xD6), (0xD9, 0xDD), (0xE0, 0xE5), (0xE7, 0xEF), (0xF1, 0xF6),
        (0xF9, 0xFD), (0xFF, 0x10F), (0x112, 0x125), (0x128, 0x130), (0x134, 0x137), (0x139, 0x13E), (0x143, 0x148),
        (0x14C, 0x151), (0x154, 0x165), (0x168, 0x17E), (0x1A0, 0x1A1), (0x1AF, 0x1B0), (0x1CD, 0x1DC),
        (0x1DE, 0x1E3), (0x1E6, 0x1F0), (0x1F4, 0x1F5), (0x1F8, 0x21B), (0x21E, 0x21F), (0x226, 0x233),
        (0x340, 0x341), (0x343, 0x344), (0x374, 0x374), (0x37E, 0x37E), (0x385, 0x38A), (0x38C, 0x38C),
        (0x38E, 0x390), (0x3AA, 0x3B0), (0x3CA, 0x3CE), (0x3D3, 0x3D4), (0x400, 0x401), (0x403, 0x403),
        (0x407, 0x407), (0x40C, 0x40E), (0x419, 0x419), (0x439, 0x439), (0x450, 0x451), (0x453, 0x453),
        (0x457, 0x457), (0x45C, 0x45E), (0x476, 0x477), (0x4C1, 0x4C2), (0x4D0, 0x4D3), (0x4D6, 0x4D7),
        (0x4DA, 0x4DF), (0x4E2, 0x4E7), (0x4EA, 0x4F5), (0x4F8, 0x4F9), (0x622, 0x626), (0x6C0, 0x6C0),
        (0x6C2, 0x6C2), (0x6D3, 0x6D3), (0x929, 0x929), (0x931, 0x931), (0x934, 0x934), (0x958, 0x95F),
        (0x9CB, 0x9CC), (0x9DC, 0x9DD), (0x9DF, 0x9DF), (0xA33, 0xA33), (0xA36, 0xA36), (0xA59, 0xA5B),
        (0xA5E, 0xA5E), (0xB48, 0xB48), (0xB4B, 0xB4C), (0xB5C, 0xB5D), (0xB94, 0xB94), (0xBCA, 0xBCC),
        (0xC48, 0xC48), (0xCC0, 0xCC0), (0xCC7, 0xCC8), (0xCCA, 0xCCB), (0xD4A, 0xD4C), (0xDDA, 0xDDA),
        (0xDDC, 0xDDE), (0xF43, 0xF43), (0xF4D, 0xF4D), (0xF52, 0xF52), (0xF57, 0xF57), (0xF5C, 0xF5C),
        (0xF69, 0xF69), (0xF73, 0xF73), (0xF75, 0xF76), (0xF78, 0xF78), (0xF81, 0xF81), (0xF93, 0xF93),
        (0xF9D, 0xF9D), (0xFA2, 0xFA2), (0xFA7, 0xFA7), (0xFAC, 0xFAC), (0xFB9, 0xFB9), (0x1026, 0x1026),
        (0x1B06, 0x1B06), (0x1B08, 0x1B08), (0x1B0A, 0x1B0A), (0x1B0C, 0x1B0C), (0x1B0E, 0x1B0E), (0x1B12, 0x1B12),
        (0x1B3B, 0x1B3B), (0x1B3D, 0x1B3D), (0x1B40, 0x1B41), (0x1B43, 0x1B43), (0x1E00, 0x1E99), (0x1E9B, 0x1E9B),
        (0x1EA0, 0x1EF9), (0x1F00, 0x1F15), (0x1F18, 0x1F1D), (0x1F20, 0x1F45), (0x1F48, 0x1F4D), (0x1F50, 0x1F57),
        (0x1F59, 0x1F59), (0x1F5B, 0x1F5B), (0x1F5D, 0x1F5D), (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC),
        (0x1FBE, 0x1FBE), (0x1FC1, 0x1FC4), (0x1FC6, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FDD, 0x1FEF), (0x1FF2, 0x1FF4),
        (0x1FF6, 0x1FFD), (0x2000, 0x2001), (0x2126, 0x2126), (0x212A, 0x212B), (0x219A, 0x219B), (0x21AE, 0x21AE),
        (0x21CD, 0x21CF), (0x2204, 0x2204), (0x2209, 0x2209), (0x220C, 0x220C), (0x2224, 0x2224), (0x2226, 0x2226),
        (0x2241, 0x2241), (0x2244, 0x2244), (0x2247, 0x2247), (0x2249, 0x2249), (0x2260, 0x2260), (0x2262, 0x2262),
        (0x226D, 0x2271), (0x2274, 0x2275), (0x2278, 0x2279), (0x2280, 0x2281), (0x2284, 0x2285), (0x2288, 0x2289),
        (0x22AC, 0x22AF), (0x22E0, 0x22E3), (0x22EA, 0x22ED), (0x2329, 0x232A), (0x2ADC, 0x2ADC), (0x304C, 0x304C),
        (0x304E, 0x304E), (0x3050, 0x3050), (0x3052, 0x3052), (0x3054, 0x3054), (0x3056, 0x3056), (0x3058, 0x3058),
        (0x305A, 0x305A), (0x305C, 0x305C), (0x305E, 0x305E), (0x3060, 0x3060), (0x3062, 0x3062), (0x3065, 0x3065),
        (0x3067, 0x3067), (0x3069, 0x3069), (0x3070, 0x3071), (0x3073, 0x3074), (0x3076, 0x3077), (0x3079, 0x307A),
        (0x307C, 0x307D), (0x3094, 0x3094), (0x309E, 0x309E), (0x30AC, 0x30AC), (0x30AE, 0x30AE), (0x30B0, 0x30B0),
        (0x30B2, 0x30B2), (0x30B4, 0x30B4), (0x30B6, 0x30B6), (0x30B8, 0x30B8), (0x30BA, 0x30BA), (0x30BC, 0x30BC),
        (0x30BE, 0x30BE), (0x30C0, 0x30C0), (0x30C2, 0x30C2), (0x30C5, 0x30C5), (0x30C7, 0x30C7), (0x30C9, 0x30C9),
        (0x30D0, 0x30D1), (0x30D3, 0x30D4), (0x30D6, 0x30D7), (0x30D9, 0x30DA), (0x30DC, 0x30DD), (0x30F4, 0x30F4),
        (0x30F7, 0x30FA), (0x30FE, 0x30FE), (0xF900, 0xFA0D), (0xFA10, 0xFA10), (0xFA12, 0xFA12), (0xFA15, 0xFA1E),
        (0xFA20, 0xFA20), (0xFA22, 0xFA22), (0xFA25, 0xFA26), (0xFA2A, 0xFA6D), (0xFA70, 0xFAD9), (0xFB1D, 0xFB1D),
        (0xFB1F, 0xFB1F), (0xFB2A, 0xFB36), (0xFB38, 0xFB3C), (0xFB3E, 0xFB3E), (0xFB40, 0xFB41), (0xFB43, 0xFB44),
        (0xFB46, 0xFB4E), (0x1109A, 0x1109A), (0x1109C, 0x1109C), (0x110AB, 0x110AB), (0x1112E, 0x1112F),
        (0x1134B, 0x1134C), (0x114BB, 0x114BC), (0x114BE, 0x114BE), (0x115BA, 0x115BB), (0x11938, 0x11938),
        (0x1D15E, 0x1D164), (0x1D1BB, 0x1D1C0), (0x2F800, 0x2FA1D),
    ]
}
