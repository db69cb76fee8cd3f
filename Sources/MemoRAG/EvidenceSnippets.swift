import Foundation
import Retrieval
import Tokenizers

/// The evidence a generator reads when `MemoRAGConfiguration.evidenceSnippets` is set: not the retrieved passages
/// whole but their few sentences closest to the question. A 135M reader given ~1,000 tokens of passages mostly
/// continues them or answers from the wrong one; a handful of sentences leaves it less to pick from.
enum EvidenceSnippets {
    /// Retriever tokens per snippet at most: a sentence or two (the chunker packs sentences up to it and cuts longer
    /// ones at words).
    static let snippetTokens = 48

    /// The `keep` snippets of `passages` whose embeddings are closest to the question's, in the passages' order
    /// (document order, as the generator's evidence comes) and in order within each.
    static func closest(_ keep: Int, of passages: [Evidence], to question: String, embedder: Embedder) throws -> [String] {
        let snippets = passages.flatMap { split($0.text, tokenizer: embedder.tokenizer) }
        guard snippets.count > keep else { return snippets }
        let vectors = try embedder.embed([question] + snippets)
        let scores = vectors.dropFirst().map { zip(vectors[0], $0).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
        let best = snippets.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(keep)
        return best.sorted().map { snippets[$0] }
    }

    /// A passage's snippets, in order: sentences packed up to `snippetTokens` of the retriever's `tokenizer`. A
    /// passage the chunker cannot cut (none in practice: passages are never blank) stays one snippet.
    static func split(_ passage: String, tokenizer: any Tokenizer) -> [String] {
        let chunker = Chunker(tokenizer: tokenizer, maxTokens: snippetTokens)
        return (try? chunker.chunk(passage, document: "").chunks.map(\.text)) ?? [passage]
    }
}
