import Foundation

/// A token matched whole in the text before pre-tokenization (HF `AddedToken`).
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Left out by `decode(skipSpecialTokens: true)`.
    public var special: Bool
    /// Only matched when not touching a word character on either side.
    public var singleWord: Bool
    /// Swallows the whitespace on its left / right.
    public var lstrip: Bool
    public var rstrip: Bool
    /// Matched in the normalized text (content normalized too) rather than the raw text.
    public var normalized: Bool

    public init(id: Int, content: String, special: Bool, singleWord: Bool = false, lstrip: Bool = false,
                rstrip: Bool = false, normalized: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
    }
}

/// A stretch of text, or an added token's id (`id >= 0`), over byte offsets.
struct Segment {
    var range: Range<Int>
    var id: Int32
}

/// Leftmost-longest matching of a set of added tokens over UTF-8 (HF uses Aho-Corasick `LeftmostLongest`), with the
/// `single_word` / `lstrip` / `rstrip` rules of HF's `AddedVocabulary::find_matches`.
struct AddedTokenMatcher: Sendable {
    private struct Entry: Sendable {
        var id: Int32
        var singleWord: Bool
        var lstrip: Bool
        var rstrip: Bool
    }

    /// Trie transitions: (node << 8 | byte) → child.
    private var children: [Int: Int32] = [:]
    /// Entry index per node, -1 when not a token end.
    private var terminal: [Int32] = [-1]
    private var entries: [Entry] = []
    private var firstByte = [Bool](repeating: false, count: 256)

    var isEmpty: Bool { entries.isEmpty }

    init(_ tokens: [(content: [UInt8], token: AddedToken)]) {
        for (bytes, t) in tokens where !bytes.isEmpty {
            var node = 0
            for b in bytes {
                let key = node << 8 | Int(b)
                if let c = children[key] {
                    node = Int(c)
                } else {
                    terminal.append(-1)
                    let c = terminal.count - 1
                    children[key] = Int32(c)
                    node = c
                }
            }
            firstByte[Int(bytes[0])] = true
            if terminal[node] < 0 {  // the first token with this content wins
                terminal[node] = Int32(entries.count)
                entries.append(Entry(id: Int32(t.id), singleWord: t.singleWord, lstrip: t.lstrip, rstrip: t.rstrip))
            }
        }
    }

    /// Splits `p[range]` (the whole "sentence" HF matches in) into text and token segments, appended to `out`.
    func split(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, into out: inout [Segment]) {
        let lo = range.lowerBound, hi = range.upperBound
        if entries.isEmpty {
            if !range.isEmpty { out.append(Segment(range: range, id: -1)) }
            return
        }
        var startOffset = lo
        var pos = lo
        while pos < hi {
            if !firstByte[Int(p[pos])] { pos += 1; continue }
            // Longest token starting here.
            var node = 0, k = pos, bestEnd = -1, bestEntry = -1
            while k < hi, let c = children[node << 8 | Int(p[k])] {
                node = Int(c)
                k += 1
                if terminal[node] >= 0 { bestEnd = k; bestEntry = Int(terminal[node]) }
            }
            if bestEnd < 0 { pos += 1; continue }
            let e = entries[bestEntry]
            var start = pos, stop = bestEnd
            pos = bestEnd
            if start < startOffset { continue }  // inside a previous token's stripped whitespace
            if e.singleWord {
                let startSpace = start == lo || !endsWithWordChar(p, lo, start)
                let stopSpace = stop == hi || !startsWithWordChar(p, stop, hi)
                if !startSpace || !stopSpace { continue }
            }
            if e.lstrip {
                var s = start
                while s > lo {
                    let ps = previousScalarStart(p, s)
                    if CharClass.of(decodeScalar(p, ps).0, CharClass.bmp) & CharClass.space == 0 { break }
                    s = ps
                }
                start = max(s, startOffset)
            }
            if e.rstrip {
                while stop < hi {
                    let (v, n) = decodeScalar(p, stop)
                    if CharClass.of(v, CharClass.bmp) & CharClass.space == 0 { break }
                    stop += n
                }
                pos = stop
            }
            if startOffset < start { out.append(Segment(range: startOffset..<start, id: -1)) }
            out.append(Segment(range: start..<stop, id: e.id))
            startOffset = stop
        }
        if startOffset < hi { out.append(Segment(range: startOffset..<hi, id: -1)) }
    }

    private func endsWithWordChar(_ p: UnsafePointer<UInt8>, _ lo: Int, _ end: Int) -> Bool {
        guard end > lo else { return false }
        let v = decodeScalar(p, previousScalarStart(p, end)).0
        return CharClass.of(v, CharClass.bmp) & CharClass.alphanumeric != 0
    }

    private func startsWithWordChar(_ p: UnsafePointer<UInt8>, _ start: Int, _ hi: Int) -> Bool {
        guard start < hi else { return false }
        return CharClass.of(decodeScalar(p, start).0, CharClass.bmp) & CharClass.alphanumeric != 0
    }
}
