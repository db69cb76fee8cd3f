import Foundation
import Retrieval

/// One training document as the pipeline's retriever sees it: cut into passages sized for the embedder
/// (`Chunker(embedder:)`, the pipeline's default chunking), embedded, in an exact inner-product index.
final class FeedbackPassages {
    let chunks: [Chunk]
    private let index: VectorIndex
    private let embedder: Embedder

    init(document: String, source: String, embedder: Embedder) throws {
        chunks = try Chunker(embedder: embedder).chunk(document, document: source).chunks
        index = try VectorIndex(dimension: embedder.dimension)
        try index.add(try embedder.embed(chunks.map(\.text)))
        self.embedder = embedder
    }

    /// Ids of the passages that overlap `passage`'s first verbatim occurrence in `document` (a synthesized
    /// question's source paragraph can straddle two passages; either is evidence). Empty when it does not occur.
    func evidence(_ passage: String, in document: String) -> Set<Int> {
        guard let found = document.range(of: passage) else { return [] }
        // Chunk offsets count Unicode scalars.
        let scalars = document.unicodeScalars
        let start = scalars.distance(from: scalars.startIndex, to: found.lowerBound)
        let end = start + scalars.distance(from: found.lowerBound, to: found.upperBound)
        return Set(chunks.filter { $0.start < end && start < $0.end }.map(\.id))
    }

    /// Each text's top `depth` passage ids, best first.
    func search(_ texts: [String], depth: Int) throws -> [[Int]] {
        guard !texts.isEmpty else { return [] }
        let k = min(depth, chunks.count)
        return try index.search(try embedder.embed(texts), k: k).map { hits in
            hits.map(\.id).filter { $0 >= 0 && $0 < chunks.count }
        }
    }
}
