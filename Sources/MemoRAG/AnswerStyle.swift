import Foundation
import Models
import Tokenizers

/// How a local model writes a reply that should come from a text: the answer (from the evidence) or span clues
/// (from the memorized document).
public enum AnswerStyle: String, Sendable, CaseIterable {
    /// Free text after MemoRAG's answer prompt, as the reference does. Small models given free rein continue the
    /// passages, invent or ask a question back (SmolLM2-135M on *Alice*: token F1 ≈ 0.06).
    case generated
    /// One span copied from the evidence: the model chooses where it starts and where it ends, but each token must
    /// extend a span of a passage (`SpanCopyConstraint`), so the answer is words of the text.
    case copied
    /// One span of the evidence, like `copied`, but chosen by comparing whole answers: the generator scores every
    /// span of the text it read that opens at a word and ends before one (`ScoredSpanAnswer`) by how likely it finds
    /// that span as its entire reply, and the likeliest wins. Greedy copying commits to its first token ("The …").
    case scored
}

extension SpanCopyConstraint {
    /// The constraint for answering from the passages: a span of one passage that starts at the beginning of a word
    /// and holds at least one token before `stopTokenIds` may end it.
    /// `sources` are the passages' token ids, as the evidence budget already encoded them. With `lineBreakTokenIds`
    /// the reply is one span a line, each at least `minimumWords` words long. `atWords` keeps spans from starting
    /// at punctuation: a greedy small model otherwise opens every clue with a quotation mark, and the few lines of
    /// the book that follow one decide the rest.
    static func copying(_ sources: [[Int]], tokenizer: any Tokenizer, stopTokenIds: Set<Int>,
                        lineBreakTokenIds: Set<Int> = [], minimumWords: Int = 0, atWords: Bool = false)
        -> SpanCopyConstraint
    {
        var wordStartIds = Set<Int>()
        let starts = sources.map { ids -> [Bool] in
            let pieces = ids.map { tokenizer.decode([$0], skipSpecialTokens: false) }
            // " beacon" opens a word; ", " and a lone " " do not. Only a minimum in words reads them.
            for (id, piece) in zip(ids, pieces) where minimumWords > 1
                && piece.unicodeScalars.first.map(CharacterSet.whitespaces.contains) ?? false
                && piece.unicodeScalars.contains(where: CharacterSet.alphanumerics.contains) {
                wordStartIds.insert(id)
            }
            return spanStarts(pieces, atWords: atWords)
        }
        return SpanCopyConstraint(sources: sources, stopTokenIds: stopTokenIds, starts: starts,
                                  lineBreakTokenIds: lineBreakTokenIds, minimumWords: minimumWords,
                                  wordStartTokenIds: wordStartIds)
    }

    /// Where a copied span may start among one source's decoded `pieces`: at the beginning of a word (and, unless
    /// `atWords`, also at punctuation that opens one).
    static func spanStarts(_ pieces: [String], atWords: Bool) -> [Bool] {
        pieces.indices.map { p in
            if atWords, !(pieces[p].unicodeScalars.first { !CharacterSet.whitespacesAndNewlines.contains($0) }
                .map(CharacterSet.alphanumerics.contains) ?? false) { return false }
            guard p > 0, let first = pieces[p].unicodeScalars.first else { return true }
            if CharacterSet.whitespacesAndNewlines.contains(first) { return true }
            // After punctuation or a line break ("\"Drink", "(the"), a word starts without a space.
            guard let last = pieces[p - 1].unicodeScalars.last else { return true }
            return !CharacterSet.alphanumerics.contains(last)
        }
    }
}
