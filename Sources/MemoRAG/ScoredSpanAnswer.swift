import Foundation
import Models
import Tokenizers

/// `AnswerStyle.scored`: the answer is the span of the text read that the generator finds likeliest as its entire
/// reply (`DecoderLM.replyLogLikelihoods`), among every span that opens at a word, ends before one, holds at least
/// `minimumWords` words and at most `maximumTokens` tokens.
enum ScoredSpanAnswer {
    /// A longer span is rarely a better answer to a factual question, and every token more costs a forward position
    /// for each candidate.
    static let maximumTokens = 16
    /// A one-word span is mostly an article or a name out of context ("The", "Alice"): on the offline prototype
    /// (docs/pipeline.md) two words or more scored better on *Alice* and the same on its paraphrased set.
    static let minimumWords = 2

    /// Every candidate: a source's ids from a word start, up to `maxTokens` ids, and which of its prefix lengths
    /// may end a span (before a word or punctuation, or at the source's end).
    static func candidates(_ sources: [[Int]], tokenizer: any Tokenizer, maxTokens: Int)
        -> [(ids: [Int], endsAt: [Int])]
    {
        var found: [(ids: [Int], endsAt: [Int])] = []
        for source in sources {
            let pieces = source.map { tokenizer.decode([$0], skipSpecialTokens: false) }
            // The copied style's word starts.
            let starts = SpanCopyConstraint.spanStarts(pieces, atWords: true)
            // A span may end before `p` when the piece at `p` opens with a space or with punctuation.
            let endsBefore = pieces.map { piece in
                piece.unicodeScalars.first.map { !CharacterSet.alphanumerics.contains($0) } ?? true
            }
            for start in source.indices where starts[start] {
                let end = min(source.count, start + maxTokens)
                let ends = (start + 1...end).filter { $0 == source.count || endsBefore[$0] }.map { $0 - start }
                if !ends.isEmpty { found.append((Array(source[start..<end]), ends)) }
            }
        }
        return found
    }

    /// The likeliest span's text, or nil when no span qualifies (e.g. every source is a single word).
    static func choose(model: MemoryModel, promptIds: [Int], sources: [[Int]], maxTokens: Int) throws -> String? {
        let tokenizer = model.lm.tokenizer
        let candidates = candidates(sources, tokenizer: tokenizer, maxTokens: min(maxTokens, maximumTokens))
        guard !candidates.isEmpty else { return nil }
        let scores = try model.lm.model.replyLogLikelihoods(promptIds: promptIds, continuations: candidates.map(\.ids),
                                                            stopTokenIds: model.lm.stopTokenIds)
        var best: (score: Float, text: String)?
        for (candidate, row) in zip(candidates, scores) {
            for length in candidate.endsAt where best.map({ row[length - 1] > $0.score }) ?? true {
                let text = tokenizer.decode(Array(candidate.ids[..<length]), skipSpecialTokens: true)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                if text.split(whereSeparator: \.isWhitespace).count >= minimumWords { best = (row[length - 1], text) }
            }
        }
        return best?.text
    }
}

extension MemoryModel {
    /// The `.scored` answer to `instruction` (a fresh conversation, without memory) from `sources`, the token ids
    /// of the texts it quotes.
    func likeliestSpan(_ instruction: String, sources: [[Int]], maxTokens: Int) throws -> String? {
        let ids = chatPromptIds(instruction)
        try checkBudget(prompt: ids.count, memory: 0, maxNewTokens: min(maxTokens, ScoredSpanAnswer.maximumTokens))
        return try ScoredSpanAnswer.choose(model: self, promptIds: ids, sources: sources, maxTokens: maxTokens)
    }
}
