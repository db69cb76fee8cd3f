import Foundation
import Retrieval

/// The evidence a generator reads when `MemoRAGConfiguration.evidenceSnippets` is set: not the retrieved passages
/// whole but their few sentences closest to the question. A 135M reader given ~1,000 tokens of passages mostly
/// continues them or answers from the wrong one; a handful of sentences leaves it less to pick from.
enum EvidenceSnippets {
    /// Retriever tokens per snippet at most: a sentence or two (the chunker packs sentences up to it and cuts longer
    /// ones at words).
    static let snippetTokens = 48

    /// The `keep` snippets of `passages` whose embeddings are closest to the question's, in document order (passage
    /// order, then position in the passage).
    static func closest(_ keep: Int, of passages: [Evidence], to question: String, embedder: Embedder) throws -> [String] {
        let chunker = Chunker(tokenizer: embedder.tokenizer, maxTokens: snippetTokens)
        var snippets: [(order: Int, text: String)] = []
        for (p, passage) in passages.enumerated() {
            // A passage the chunker cannot cut (none in practice: passages are never blank) stays one snippet.
            let pieces = (try? chunker.chunk(passage.text, document: passage.document).chunks.map(\.text)) ?? [passage.text]
            snippets += pieces.enumerated().map { (order: p * 10_000 + $0.offset, text: $0.element) }
        }
        guard snippets.count > keep else { return snippets.map(\.text) }
        let vectors = try embedder.embed([question] + snippets.map(\.text))
        let query = vectors[0]
        let scored = zip(snippets, vectors.dropFirst()).map { snippet, vector in
            (snippet: snippet, score: zip(query, vector).reduce(Float(0)) { $0 + $1.0 * $1.1 })
        }
        let best = scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.snippet.order < $1.snippet.order }
            .prefix(keep)
        return best.sorted { $0.snippet.order < $1.snippet.order }.map(\.snippet.text)
    }
}
