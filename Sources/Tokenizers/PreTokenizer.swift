import Foundation

/// The split regexes of byte-level BPE tokenizers, implemented as hand-written scanners over UTF-8 (no regex engine;
/// `NSRegularExpression` on Linux is far too slow). Each scanner reproduces the leftmost-first alternation and
/// backtracking of the Oniguruma regex HF `tokenizers` runs, with HF's `Split(..., behavior: "isolated")` semantics.
public enum SplitPattern: String, Sendable, CaseIterable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (GPT-2; the ByteLevel regex).
    case gpt2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// The Llama-3 pattern with `\p{N}` (single digits) instead of `\p{N}{1,3}` (Qwen2).
    case qwen2

    public var regex: String {
        switch self {
        case .gpt2: return #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
        case .llama3:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .qwen2:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        }
    }

    /// The pattern a regex string spells, nil when it is none of the supported ones.
    public init?(regex: String) {
        var r = regex
        // `\s+(?!\S)` without the final `|\s+`: the lone whitespace it leaves unmatched is an isolated gap, same split.
        if !r.hasSuffix(#"|\s+"#) { r += #"|\s+"# }
        guard let p = SplitPattern.allCases.first(where: { $0.regex == r }) else { return nil }
        self = p
    }

    /// Splits `p[range]` into pieces, appended to `out`.
    func split(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        switch self {
        case .gpt2: splitGPT2(p, range, &out)
        case .llama3: splitLlama3(p, range, maxDigits: 3, &out)
        case .qwen2: splitLlama3(p, range, maxDigits: 1, &out)
        }
    }
}

// MARK: - Scanners

private let L = CharClass.letter, N = CharClass.number, S = CharClass.space

/// Length (in bytes, after the apostrophe) of a contraction `s t re ve m ll d` at `i`, 0 when none.
@inline(__always)
private func contraction(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, caseInsensitive: Bool) -> Int {
    guard i < end else { return 0 }
    @inline(__always) func lower(_ b: UInt8) -> UInt8 { caseInsensitive && b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
    let c = lower(p[i])
    switch c {
    case 0x73, 0x74, 0x6D, 0x64: return 1  // s t m d
    case 0x72, 0x76:  // re ve
        return i + 1 < end && lower(p[i + 1]) == 0x65 ? 2 : 0
    case 0x6C:  // ll
        return i + 1 < end && lower(p[i + 1]) == 0x6C ? 2 : 0
    case 0xC5 where caseInsensitive:  // ſ (U+017F LATIN SMALL LETTER LONG S) case-folds to "s"
        return i + 1 < end && p[i + 1] == 0xBF ? 2 : 0
    default: return 0
    }
}

/// End of the run of scalars from `i` whose class satisfies `test`.
@inline(__always)
private func run(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ table: UnsafePointer<UInt8>,
                 _ test: (UInt8) -> Bool) -> Int {
    var j = i
    while j < end {
        let b = p[j]
        if b < 0x80 {
            if !test(table[Int(b)]) { break }
            j += 1
        } else {
            let (v, n) = decodeScalar(p, j)
            if !test(CharClass.of(v, table)) { break }
            j += n
        }
    }
    return j
}

/// End of a whitespace match starting at `i` (a whitespace scalar) by `\s+(?!\S)|\s+`.
@inline(__always)
private func whitespaceMatch(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ table: UnsafePointer<UInt8>) -> Int {
    let j = run(p, i, end, table) { $0 & S != 0 }
    if j == end { return j }
    // Followed by non-space: `\s+(?!\S)` backtracks to leave the last whitespace scalar; a single one falls to `\s+`.
    let last = previousScalarStart(p, j)
    return last > i ? last : j
}

private func splitGPT2(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, _ out: inout [Range<Int>]) {
    let table = CharClass.bmp
    let end = range.upperBound
    var i = range.lowerBound
    while i < end {
        let c = decodeScalar(p, i).0
        if c == 0x27 {  // '
            let k = contraction(p, i + 1, end, caseInsensitive: false)
            if k > 0 { out.append(i..<(i + 1 + k)); i += 1 + k; continue }
        }
        var cls = CharClass.of(c, table)
        var start = i  // the run's first scalar, after an optional leading space (` ?\p{L}+` etc.)
        if c == 0x20 && i + 1 < end {
            let cls2 = CharClass.of(decodeScalar(p, i + 1).0, table)
            if cls2 & S == 0 { cls = cls2; start = i + 1 }
        }
        let j: Int
        if cls & L != 0 {
            j = run(p, start, end, table) { $0 & L != 0 }
        } else if cls & N != 0 {
            j = run(p, start, end, table) { $0 & N != 0 }
        } else if cls & S == 0 {
            j = run(p, start, end, table) { $0 & (L | N | S) == 0 }
        } else {
            j = whitespaceMatch(p, i, end, table)
        }
        out.append(i..<j)
        i = j
    }
}

private func splitLlama3(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, maxDigits: Int, _ out: inout [Range<Int>]) {
    let table = CharClass.bmp
    let end = range.upperBound
    var i = range.lowerBound
    while i < end {
        let (c, len) = decodeScalar(p, i)
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c == 0x27 {
            let k = contraction(p, i + 1, end, caseInsensitive: true)
            if k > 0 { out.append(i..<(i + 1 + k)); i += 1 + k; continue }
        }
        let cls = CharClass.of(c, table)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if cls & L != 0 {
            let j = run(p, i, end, table) { $0 & L != 0 }
            out.append(i..<j); i = j; continue
        }
        let nextClass: UInt8? = i + len < end ? CharClass.of(decodeScalar(p, i + len).0, table) : nil
        if cls & N == 0 && c != 0x0D && c != 0x0A, let nc = nextClass, nc & L != 0 {
            let j = run(p, i + len, end, table) { $0 & L != 0 }
            out.append(i..<j); i = j; continue
        }
        // \p{N}{1,maxDigits}
        if cls & N != 0 {
            var j = i + len, count = 1
            while count < maxDigits && j < end {
                let (v, n) = decodeScalar(p, j)
                if CharClass.of(v, table) & N == 0 { break }
                j += n; count += 1
            }
            out.append(i..<j); i = j; continue
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var otherStart: Int? = nil
        if cls & S == 0 {
            otherStart = i
        } else if c == 0x20, let nc = nextClass, nc & (L | N | S) == 0 {
            otherStart = i + 1
        }
        if let s = otherStart {
            var j = run(p, s, end, table) { $0 & (L | N | S) == 0 }
            while j < end && (p[j] == 0x0D || p[j] == 0x0A) { j += 1 }
            out.append(i..<j); i = j; continue
        }
        // c is whitespace. `\s*[\r\n]+`: up to and including the last \r or \n of the whitespace run.
        let runEnd = run(p, i, end, table) { $0 & S != 0 }
        var lastNewline = -1
        var k = i
        while k < runEnd {
            let b = p[k]
            if b == 0x0D || b == 0x0A { lastNewline = k }
            k += scalarLength(b)
        }
        if lastNewline >= 0 {
            out.append(i..<(lastNewline + 1)); i = lastNewline + 1; continue
        }
        // `\s+(?!\S)|\s+`
        let j = whitespaceMatch(p, i, end, table)
        out.append(i..<j); i = j
    }
}

/// HF `Digits`: isolates numeric scalars (`char::is_numeric`, i.e. \p{N}), each alone or in contiguous runs.
func splitDigits(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, individual: Bool, into out: inout [Range<Int>]) {
    let table = CharClass.bmp
    let end = range.upperBound
    var i = range.lowerBound
    while i < end {
        let (c, len) = decodeScalar(p, i)
        if CharClass.of(c, table) & N != 0 {
            let j = individual ? i + len : run(p, i, end, table) { $0 & N != 0 }
            out.append(i..<j); i = j
        } else {
            let j = run(p, i, end, table) { $0 & N == 0 }
            out.append(i..<j); i = j
        }
    }
}

// MARK: - Pipeline

/// Metaspace's `prepend_scheme`.
public enum PrependScheme: String, Sendable {
    case always, first, never
}

/// One step of a pre-tokenizer `Sequence`, in HF order.
enum PreTokenizerStep: Sendable, Equatable {
    /// Split(Regex, isolated), or the regex part of ByteLevel(use_regex: true).
    case split(SplitPattern)
    case digits(individual: Bool)
    /// ByteLevel(add_prefix_space: true): a space before every piece that does not start with one.
    case prefixSpace
    case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme, split: Bool)
}

/// Runs the steps over one segment of text (a stretch between added tokens) and hands each piece to `emit`.
/// `atOrigin`: the segment starts at offset 0 of the input (Metaspace's `first` scheme prepends only there).
func preTokenize(_ segment: UnsafeBufferPointer<UInt8>, steps: [PreTokenizerStep], atOrigin: Bool,
                 ranges: inout [Range<Int>], spare: inout [Range<Int>],
                 emit: (UnsafePointer<UInt8>, Range<Int>) -> Void) {
    guard segment.count > 0, let base = segment.baseAddress else { return }
    ranges.removeAll(keepingCapacity: true)
    ranges.append(0..<segment.count)
    var owned: [UInt8]? = nil

    func withBase<T>(_ body: (UnsafePointer<UInt8>) -> T) -> T {
        if let o = owned { return o.withUnsafeBufferPointer { body($0.baseAddress!) } }
        return body(base)
    }

    for step in steps {
        switch step {
        case .split(let pattern):
            spare.removeAll(keepingCapacity: true)
            withBase { p in for r in ranges { pattern.split(p, r, into: &spare) } }
            swap(&ranges, &spare)
        case .digits(let individual):
            spare.removeAll(keepingCapacity: true)
            withBase { p in for r in ranges { splitDigits(p, r, individual: individual, into: &spare) } }
            swap(&ranges, &spare)
        case .prefixSpace:
            var out = [UInt8]()
            spare.removeAll(keepingCapacity: true)
            withBase { p in
                out.reserveCapacity(segment.count + ranges.count)
                for r in ranges {
                    let s = out.count
                    if p[r.lowerBound] != 0x20 { out.append(0x20) }
                    out.append(contentsOf: UnsafeBufferPointer(start: p + r.lowerBound, count: r.count))
                    spare.append(s..<out.count)
                }
            }
            owned = out
            swap(&ranges, &spare)
        case .metaspace(let replacement, let prepend, let split):
            let rep = Array(String(Character(replacement)).utf8)
            var out = [UInt8]()
            spare.removeAll(keepingCapacity: true)
            withBase { p in
                out.reserveCapacity(segment.count * 2 + 3)
                for (k, r) in ranges.enumerated() {
                    let s = out.count
                    let startsWithRep = r.count >= rep.count
                        && (0..<rep.count).allSatisfy { p[r.lowerBound + $0] == rep[$0] } || p[r.lowerBound] == 0x20
                    let wantPrefix = prepend == .always || (prepend == .first && k == 0 && atOrigin)
                    if wantPrefix && !startsWithRep { out.append(contentsOf: rep) }
                    for i in r {
                        if p[i] == 0x20 { out.append(contentsOf: rep) } else { out.append(p[i]) }
                    }
                    if split {
                        // MergedWithNext on the replacement: each one starts a new piece.
                        var pieceStart = s
                        var i = s
                        while i < out.count {
                            if i > pieceStart && out.count - i >= rep.count
                                && (0..<rep.count).allSatisfy({ out[i + $0] == rep[$0] }) {
                                spare.append(pieceStart..<i)
                                pieceStart = i
                            }
                            i += scalarLength(out[i])
                        }
                        if pieceStart < out.count { spare.append(pieceStart..<out.count) }
                    } else if out.count > s {
                        spare.append(s..<out.count)
                    }
                }
            }
            owned = out
            swap(&ranges, &spare)
        }
    }
    withBase { p in for r in ranges where !r.isEmpty { emit(p, r) } }
}
