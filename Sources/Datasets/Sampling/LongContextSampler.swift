import Torch

/// A window of consecutive tokens drawn by `LongContextSampler`, with where each piece came from.
public struct TokenWindow: Sendable, Equatable {
    /// One contiguous run of a document's tokens inside the window.
    public struct Piece: Sendable, Equatable {
        public var document: Int
        /// Token offset inside the document.
        public var start: Int
        public var count: Int
    }

    public var tokens: [Int32]
    /// The document runs in order; between two runs the window holds one separator token (when one is set).
    public var pieces: [Piece]
}

/// Draws long-context training windows from a pretraining store.
///
/// A draw picks a length uniformly in `minLength...maxLength` and a document with probability proportional to its
/// length. If the document is at least that long, the window is a uniformly placed run inside it; otherwise it
/// starts at the document's beginning and continues into the following documents of the sampler's list (cyclically),
/// with the separator token (EOS) between documents, until it is long enough.
///
/// `sample(minLength:maxLength:seed:cursor:)` is a pure function of its arguments: the trainer keeps `cursor` (the
/// number of windows drawn so far) in its checkpoint and resumes with the same windows.
public struct LongContextSampler: Sendable {
    public let store: TokenStore
    public let documents: [Int]
    public let separatorToken: Int?
    /// Cumulative token counts of `documents` (for the length-weighted choice).
    private let cumulative: [Int]
    public let totalTokens: Int

    /// `documents`: the ids to draw from (e.g. `store.trainingDocuments`); empty documents are ignored.
    public init(store: TokenStore, documents: [Int], separatorToken: Int?) throws {
        if let separatorToken, separatorToken < 0 || separatorToken >= store.vocabSize {
            throw DataError.cannotSample(reason: "separator token \(separatorToken) is outside the vocabulary "
                                             + "(\(store.vocabSize)) of \(store.url.path)")
        }
        let kept = documents.filter { $0 >= 0 && $0 < store.documentCount && !store.documentRange($0).isEmpty }
        guard !kept.isEmpty else {
            throw DataError.cannotSample(reason: "no non-empty documents to draw from in \(store.url.path)")
        }
        self.store = store
        self.documents = kept
        self.separatorToken = separatorToken
        var running = 0
        var sums: [Int] = []
        for d in kept {
            running += store.documentRange(d).count
            sums.append(running)
        }
        cumulative = sums
        totalTokens = running
    }

    /// Window number `cursor` of the stream seeded with `seed`.
    public func sample(minLength: Int, maxLength: Int, seed: UInt64, cursor: Int) throws -> TokenWindow {
        var rng = SplitMix64(seed: seed, index: UInt64(cursor))
        return try sample(minLength: minLength, maxLength: maxLength, using: &rng)
    }

    public func sample<R: RandomNumberGenerator>(minLength: Int, maxLength: Int, using rng: inout R) throws -> TokenWindow {
        guard minLength > 0, maxLength >= minLength else {
            throw DataError.cannotSample(reason: "window lengths must satisfy 0 < min (\(minLength)) <= max (\(maxLength))")
        }
        let separators = separatorToken == nil ? 0 : documents.count - 1
        guard maxLength <= totalTokens + separators else {
            throw DataError.cannotSample(reason: "windows of up to \(maxLength) tokens need more than the "
                                             + "\(totalTokens) tokens of the chosen documents of \(store.url.path)")
        }
        let length = rng.uniform(in: minLength...maxLength)
        let position = rng.uniform(below: totalTokens)
        var slot = firstIndex(above: position)
        let range = store.documentRange(documents[slot])
        if range.count >= length {
            let start = rng.uniform(in: 0...(range.count - length))
            let ids = try store.tokens((range.lowerBound + start)..<(range.lowerBound + start + length))
            return TokenWindow(tokens: ids.map { Int32(bitPattern: $0) },
                               pieces: [.init(document: documents[slot], start: start, count: length)])
        }
        var tokens: [Int32] = []
        tokens.reserveCapacity(length)
        var pieces: [TokenWindow.Piece] = []
        while tokens.count < length {
            if !pieces.isEmpty, let separatorToken {
                tokens.append(Int32(separatorToken))
                if tokens.count == length { break }
            }
            let doc = documents[slot]
            let r = store.documentRange(doc)
            let take = min(r.count, length - tokens.count)
            tokens += try store.tokens(r.lowerBound..<(r.lowerBound + take)).map { Int32(bitPattern: $0) }
            pieces.append(.init(document: doc, start: 0, count: take))
            slot = (slot + 1) % documents.count
        }
        return TokenWindow(tokens: tokens, pieces: pieces)
    }

    /// The slot whose cumulative count first exceeds `position`.
    private func firstIndex(above position: Int) -> Int {
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > position { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
