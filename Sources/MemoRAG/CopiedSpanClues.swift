import Foundation
import Models
import Tokenizers

/// The constraints that make span clues copies of the memorized documents (`MemoRAGConfiguration.spanClueStyle`).
struct CopiedSpanCache {
    /// The documents' content hashes, in memorize order: the cache is rebuilt when they change.
    var key: [String]
    var constraints: [SpanCopyConstraint]
}

extension MemoRAG {
    /// Shortest copied clue, in words: `ClueLines` drops lines of three words or fewer (a word or two, "the" or
    /// "Alice", retrieves nothing in particular).
    static let minimumCopiedClueWords = 4

    /// One constraint per document: each line of the reply copies a span of that document's passages (tokenized
    /// passage by passage, so no clue runs across a passage boundary). Tokenizing a book and finding where its words
    /// start takes a noticeable part of a second, so it is done once per loaded memory.
    func copiedSpanConstraints(_ store: MemoryStore) -> [SpanCopyConstraint] {
        let key = store.manifest.documents.map(\.sha256)
        if let cached = copiedSpanCache, cached.key == key { return cached.constraints }
        let tokenizer = memoryModel.lm.tokenizer
        let lineBreaks = Set(["\n", "\n\n"].compactMap { text -> Int? in
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            return ids.count == 1 ? ids[0] : nil
        }).subtracting(memoryModel.lm.stopTokenIds)
        let constraints = store.manifest.documents.map { document in
            let passages = store.chunks[document.firstChunk..<(document.firstChunk + document.chunkCount)]
            let sources = passages.map { tokenizer.encode($0.text, addSpecialTokens: false) }
            return SpanCopyConstraint.copying(sources, tokenizer: tokenizer, stopTokenIds: memoryModel.lm.stopTokenIds,
                                              lineBreakTokenIds: lineBreaks,
                                              minimumWords: Self.minimumCopiedClueWords, atWords: true)
        }
        copiedSpanCache = CopiedSpanCache(key: key, constraints: constraints)
        return constraints
    }
}
