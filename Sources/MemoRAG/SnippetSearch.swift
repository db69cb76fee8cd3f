import Foundation
import Retrieval

/// The passages' snippets, embedded, for `PassageSearch.sentences`: a passage embedding averages ~250 word pieces,
/// and a question that paraphrases one of its sentences can sit closer to that sentence than to the whole.
struct SnippetIndex {
    /// The documents' content hashes, in memorize order: the index is rebuilt when they change.
    var key: [String]
    var index: VectorIndex
    /// The passage (chunk id) of each snippet, by snippet id.
    var passageOf: [Int]
}

extension MemoRAG {
    /// Snippets searched per passage wanted: a passage has about eight, and the best few of several passages must
    /// make it into the list.
    static let snippetsPerPassage = 8

    /// Per query embedding, the `depth` passages whose best snippet is closest, best first.
    func searchSnippets(_ queries: [[Float]], depth: Int) throws -> [[(id: Int, score: Float)]] {
        let snippets = try snippetIndex(loaded())
        let hits = try snippets.index.search(queries, k: min(depth * Self.snippetsPerPassage, snippets.passageOf.count))
        return hits.map { list in
            let valid = list.filter { $0.id >= 0 && $0.id < snippets.passageOf.count }
            return Array(RankFusion.bestScore(valid.map { (id: snippets.passageOf[$0.id], score: $0.score) }).prefix(depth))
        }
    }

    /// Embeds every passage's snippets (`EvidenceSnippets.snippetTokens` retriever tokens at most) once per loaded
    /// set of documents.
    private func snippetIndex(_ store: MemoryStore) throws -> SnippetIndex {
        let key = store.manifest.documents.map(\.sha256)
        if let cached = snippetIndexCache, cached.key == key { return cached }
        var texts: [String] = []
        var passageOf: [Int] = []
        for (id, chunk) in store.chunks.enumerated() {
            let pieces = EvidenceSnippets.split(chunk.text, tokenizer: embedder.tokenizer)
            texts += pieces
            passageOf += Array(repeating: id, count: pieces.count)
        }
        let index = try VectorIndex(dimension: store.manifest.retrieverDimension)
        try index.add(try embedder.embed(texts))
        let built = SnippetIndex(key: key, index: index, passageOf: passageOf)
        snippetIndexCache = built
        return built
    }
}
