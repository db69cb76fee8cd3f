import Foundation
import Tokenizers

/// Splits a document into passages of at most `maxTokens` tokens of `tokenizer` (counted without special tokens),
/// cutting at the coarsest boundary that works: paragraphs (blank lines), then sentences (`.!?…` before whitespace,
/// CJK `。！？` anywhere, line breaks), then words (whitespace), and only for a single word longer than the budget at
/// token-sized pieces of it (on character boundaries). Neighbouring pieces are packed greedily up to the budget.
/// Chunks do not overlap and never begin or end with whitespace; the text between two chunks is whitespace only, so
/// the chunks and their gaps give back the document exactly.
///
/// Every chunk's length is measured exactly with the tokenizer (piece counts only guide the packing), so the bound
/// holds for any tokenizer. Use `Chunker(embedder:)` to measure with the retriever's own WordPiece and limit so no
/// chunk is truncated when it is embedded.
public struct Chunker: Sendable {
    public let tokenizer: any Tokenizer
    /// Token budget per chunk, special tokens not counted.
    public let maxTokens: Int
    /// Says whether the embedder would cut a chunk (its ids are then listed in `ChunkingResult.truncatedChunkIds`).
    public let truncationCheck: (@Sendable (String) -> Bool)?

    public static let minimumTokens = 8

    public init(tokenizer: any Tokenizer, maxTokens: Int, truncationCheck: (@Sendable (String) -> Bool)? = nil) {
        self.tokenizer = tokenizer
        self.maxTokens = maxTokens
        self.truncationCheck = truncationCheck
    }

    /// Chunks sized for `embedder`: measured with its WordPiece tokenizer, at most what it reads (256 word pieces
    /// with [CLS]/[SEP] for all-MiniLM-L6-v2, so 254 here) or `maxTokens` when smaller.
    public init(embedder: Embedder, maxTokens: Int? = nil) {
        let limit = embedder.maxContentTokens
        self.init(tokenizer: embedder.tokenizer, maxTokens: min(maxTokens ?? limit, limit),
                  truncationCheck: { [tokenizer = embedder.tokenizer, maxLength = embedder.maxSequenceLength] text in
                      tokenizer.encodeReportingTruncation(text, addSpecialTokens: true, maxLength: maxLength).truncated
                  })
    }

    /// The chunks of `text` with ids from `firstId`, each tagged with `document`.
    public func chunk(_ text: String, document: String, firstId: Int = 0) throws -> ChunkingResult {
        guard maxTokens >= Self.minimumTokens else {
            throw RetrievalError.invalidArgument("chunk size must be at least \(Self.minimumTokens) tokens, got \(maxTokens)")
        }
        let splitter = Splitter(scalars: Array(text.unicodeScalars), tokenizer: tokenizer, maxTokens: maxTokens)
        guard let whole = splitter.trimmed(0..<splitter.scalars.count) else { throw RetrievalError.emptyText(document: document) }
        var chunks: [Chunk] = []
        var truncated: [Int] = []
        for (offset, piece) in splitter.split(whole, level: .paragraph).enumerated() {
            let id = firstId + offset
            let chunkText = splitter.string(piece.range)
            chunks.append(Chunk(id: id, text: chunkText, start: piece.range.lowerBound, end: piece.range.upperBound, doc: document))
            if truncationCheck?(chunkText) == true { truncated.append(id) }
        }
        return ChunkingResult(chunks: chunks, truncatedChunkIds: truncated)
    }
}

/// The recursive splitter over one document's Unicode scalars.
private struct Splitter {
    enum Level { case paragraph, sentence, word, characters }

    struct Piece {
        var range: Range<Int>
        var tokens: Int
    }

    let scalars: [Unicode.Scalar]
    let tokenizer: any Tokenizer
    let maxTokens: Int

    func string(_ range: Range<Int>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[range])
        return String(view)
    }

    func tokens(_ range: Range<Int>) -> Int { tokenizer.encode(string(range), addSpecialTokens: false).count }

    /// Pieces of `range` (trimmed, non-empty) of at most `maxTokens` tokens each, packed.
    func split(_ range: Range<Int>, level: Level) -> [Piece] {
        let count = tokens(range)
        if count <= maxTokens { return [Piece(range: range, tokens: count)] }
        let units: [Range<Int>]
        switch level {
        case .paragraph: units = segments(range, cutsAt: paragraphBreaks)
        case .sentence: units = segments(range, cutsAt: sentenceBreaks)
        case .word: units = segments(range, cutsAt: wordBreaks)
        case .characters: return hardSplit(range)
        }
        let next: Level = level == .paragraph ? .sentence : level == .sentence ? .word : .characters
        // A level that finds no boundary hands the whole range down without counting it again.
        if units.count == 1 { return split(units[0], level: next) }
        return pack(units.flatMap { split($0, level: next) })
    }

    /// Greedy packing of consecutive pieces: the sum of piece counts proposes a chunk, the tokenizer confirms it
    /// (tokenizers whose counts are not additive, such as byte-level BPE, can need a piece fewer).
    func pack(_ pieces: [Piece]) -> [Piece] {
        var result: [Piece] = []
        var first = 0
        while first < pieces.count {
            var end = first + 1
            var estimate = pieces[first].tokens
            while end < pieces.count, estimate + pieces[end].tokens <= maxTokens {
                estimate += pieces[end].tokens
                end += 1
            }
            var merged = pieces[first]
            while end - first > 1 {
                let range = pieces[first].range.lowerBound..<pieces[end - 1].range.upperBound
                let count = tokens(range)
                if count <= maxTokens { merged = Piece(range: range, tokens: count); break }
                end -= 1
            }
            result.append(merged)
            first = end
        }
        return result
    }

    /// A run of text without whitespace (a very long word, or a CJK sentence without punctuation) cut into the
    /// longest prefixes that fit, on character (grapheme) boundaries, or on scalars inside a single huge character.
    func hardSplit(_ range: Range<Int>, byScalars: Bool = false) -> [Piece] {
        var bounds = [range.lowerBound]  // scalar offsets where a piece may end
        if byScalars {
            bounds.append(contentsOf: range.dropFirst() + [range.upperBound])
        } else {
            for character in string(range) { bounds.append(bounds.last! + character.unicodeScalars.count) }
        }
        var pieces: [Piece] = []
        var at = 0  // index into bounds
        while at < bounds.count - 1 {
            // Binary search for the most characters that fit (a prefix's count grows with its length), looking at
            // most maxTokens × 32 characters ahead: no tokenizer packs more than that into a token budget.
            var low = at + 1, high = min(bounds.count - 1, at + maxTokens * 32)
            var best = Piece(range: bounds[at]..<bounds[low], tokens: tokens(bounds[at]..<bounds[low]))
            while low < high {
                let middle = (low + high + 1) / 2
                let count = tokens(bounds[at]..<bounds[middle])
                if count <= maxTokens {
                    best = Piece(range: bounds[at]..<bounds[middle], tokens: count)
                    low = middle
                } else {
                    high = middle - 1
                }
            }
            if best.tokens > maxTokens && !byScalars && best.range.count > 1 {
                pieces.append(contentsOf: hardSplit(best.range, byScalars: true))
            } else {
                pieces.append(best)
            }
            at = low
        }
        return pieces
    }

    // MARK: - Boundaries

    /// Splits `range` at the cut positions `cuts` finds, trims whitespace and drops empty parts.
    func segments(_ range: Range<Int>, cutsAt cuts: (Range<Int>) -> [Int]) -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var start = range.lowerBound
        for cut in cuts(range) + [range.upperBound] where cut > start {
            if let part = trimmed(start..<cut) { parts.append(part) }
            start = cut
        }
        return parts
    }

    func trimmed(_ range: Range<Int>) -> Range<Int>? {
        var low = range.lowerBound, high = range.upperBound
        while low < high, isSpace(scalars[low]) { low += 1 }
        while high > low, isSpace(scalars[high - 1]) { high -= 1 }
        return low < high ? low..<high : nil
    }

    func isSpace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    /// Blank lines: a whitespace run holding two or more line breaks.
    func paragraphBreaks(_ range: Range<Int>) -> [Int] {
        var cuts: [Int] = []
        var i = range.lowerBound
        while i < range.upperBound {
            guard isSpace(scalars[i]) else { i += 1; continue }
            var j = i, newlines = 0
            while j < range.upperBound, isSpace(scalars[j]) {
                if scalars[j] == "\n" { newlines += 1 }
                j += 1
            }
            if newlines >= 2 { cuts.append(j) }
            i = j
        }
        return cuts
    }

    /// After `.!?…` (and closing quotes or brackets) followed by whitespace, after CJK `。！？` (and closers)
    /// anywhere, and at line breaks.
    func sentenceBreaks(_ range: Range<Int>) -> [Int] {
        var cuts: [Int] = []
        var i = range.lowerBound
        while i < range.upperBound {
            let s = scalars[i]
            if s == "\n" { cuts.append(i + 1); i += 1; continue }
            let cjk = Self.cjkTerminators.contains(s)
            guard cjk || Self.terminators.contains(s) else { i += 1; continue }
            var j = i + 1
            while j < range.upperBound, Self.terminators.contains(scalars[j]) || Self.cjkTerminators.contains(scalars[j])
                    || Self.closers.contains(scalars[j]) { j += 1 }
            if cjk || j == range.upperBound || isSpace(scalars[j]) { cuts.append(j) }
            i = j
        }
        return cuts
    }

    func wordBreaks(_ range: Range<Int>) -> [Int] {
        var cuts: [Int] = []
        for i in range where i > range.lowerBound && isSpace(scalars[i]) && !isSpace(scalars[i - 1]) { cuts.append(i) }
        return cuts
    }

    static let terminators: Set<Unicode.Scalar> = [".", "!", "?", "…", "‼", "⁇", "⁈", "⁉"]
    static let cjkTerminators: Set<Unicode.Scalar> = ["。", "！", "？", "｡", "．"]
    static let closers: Set<Unicode.Scalar> = ["\"", "'", ")", "]", "}", "”", "’", "»", "」", "』", "）", "】", "》", "〉"]
}
