import Foundation

/// Okapi BM25 over a fixed set of passages, for hybrid retrieval beside the dense index: exact names and rare words
/// that a small sentence embedder blurs ("Netherfield", "Pemberley") score here. Built in memory from the passages
/// when a cache is loaded (milliseconds for a book), so nothing is stored on disk.
///
/// Terms are lowercased runs of letters and digits (apostrophes inside words kept, so "Darcy's" is one term), minus
/// a short list of English function words; scores use the Lucene/Robertson IDF `ln(1 + (N - df + 0.5) / (df + 0.5))`
/// with `k1 = 1.2`, `b = 0.75`.
public struct BM25Index: Sendable {
    public let k1: Double
    public let b: Double
    /// For each term, the passages holding it and how often.
    private let postings: [String: [(passage: Int, count: Int)]]
    private let lengths: [Int]
    private let averageLength: Double

    public init(passages: [String], k1: Double = 1.2, b: Double = 0.75) {
        self.k1 = k1
        self.b = b
        var postings: [String: [(passage: Int, count: Int)]] = [:]
        var lengths: [Int] = []
        lengths.reserveCapacity(passages.count)
        for (id, text) in passages.enumerated() {
            let terms = Self.terms(of: text)
            lengths.append(terms.count)
            var counts: [String: Int] = [:]
            for term in terms { counts[term, default: 0] += 1 }
            for (term, count) in counts { postings[term, default: []].append((id, count)) }
        }
        self.postings = postings
        self.lengths = lengths
        averageLength = lengths.isEmpty ? 0 : Double(lengths.reduce(0, +)) / Double(lengths.count)
    }

    public var count: Int { lengths.count }

    /// The `k` best passages for `query`, best first (ties by passage id); passages sharing no term are never listed.
    public func search(_ query: String, k: Int) -> [(id: Int, score: Float)] {
        guard k > 0, !lengths.isEmpty else { return [] }
        var scores: [Int: Double] = [:]
        let n = Double(lengths.count)
        for term in Set(Self.terms(of: query)) {
            guard let list = postings[term] else { continue }
            let idf = log(1 + (n - Double(list.count) + 0.5) / (Double(list.count) + 0.5))
            for (passage, count) in list {
                let tf = Double(count)
                let norm = k1 * (1 - b + b * Double(lengths[passage]) / max(averageLength, 1))
                scores[passage, default: 0] += idf * tf * (k1 + 1) / (tf + norm)
            }
        }
        return scores.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(k).map { (id: $0.key, score: Float($0.value)) }
    }

    /// Lowercased word terms without function words.
    static func terms(of text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        func flush() {
            let term = current.trimmingCharacters(in: CharacterSet(charactersIn: "'’"))
            if !term.isEmpty, !stopwords.contains(term) { terms.append(term) }
            current = ""
        }
        for character in text.lowercased() {
            if character.isLetter || character.isNumber || ((character == "'" || character == "’") && !current.isEmpty) {
                current.append(character)
            } else {
                flush()
            }
        }
        flush()
        return terms.map { $0.hasSuffix("'s") || $0.hasSuffix("’s") ? String($0.dropLast(2)) : $0 }
    }

    static let stopwords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "did", "do", "does", "for", "from", "had",
        "has", "have", "he", "her", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no",
        "not", "of", "on", "or", "she", "so", "that", "the", "their", "them", "then", "there", "they", "this", "to",
        "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you",
        "your",
    ]
}
