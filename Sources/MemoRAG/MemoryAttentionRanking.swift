import Foundation
import Models

/// Passages ranked by where the memory model looks in its memory while it reads the question
/// (`MemoRAGConfiguration.memoryAttention`). Each beacon entry of a memory stands for `ratio` tokens of the document,
/// so the attention the recall prompt pays it, against what a neutral question pays it (`MemoRAG.lift`), scores
/// that stretch of the text; a passage scores the mean over its entries of the lift summed over `layers`. The list
/// joins reciprocal rank fusion like a clue's.
public struct MemoryAttentionSettings: Sendable, Equatable {
    /// Layers whose attention is summed (all within the memory model's layers).
    public var layers: ClosedRange<Int>
    /// Weight of the list in reciprocal rank fusion (each clue's weighs 1, the question's `queryWeight`).
    public var weight: Double

    public init(layers: ClosedRange<Int>, weight: Double = 1) {
        self.layers = layers
        self.weight = weight
    }
}

/// What the attention ranking of the loaded documents reuses across queries.
struct MemoryAttentionMaps {
    /// The documents' content hashes, in memorize order: the maps are rebuilt when they change.
    var key: [String]
    /// The layers `neutral` measured.
    var layers: ClosedRange<Int>
    /// Per document: the passage (chunk id) each memory entry stands for, nil outside the document.
    var entryChunks: [[Int?]]
    /// Per document and layer: the attention a neutral question pays each entry.
    var neutral: [[[Float]]]
}

extension MemoRAG {
    /// How much more attention an entry gets from the question than from the neutral question, as a log ratio:
    /// entries every question looks at (recent ones, sinks) cancel out, and a passage's score is the mean over its
    /// entries, so passages held as raw tokens (the unfinished window) do not win by having more entries.
    static func lift(_ attention: Float, over neutral: Float) -> Double {
        Foundation.log((Double(attention) + 1e-7) / (Double(neutral) + 1e-7))
    }

    /// The question every query's attention is measured against.
    static let neutralQuestion = "What happens in the article?"
    /// Passages of the attention list kept in an `AskResult` (enough for the recall@k curves).
    static let attentionListLength = 40

    /// Chunk ids best first by the memory's attention to them while reading `query` (see `MemoryAttentionSettings`).
    func attentionRanking(query: String, settings: MemoryAttentionSettings, store: MemoryStore) throws -> [Int] {
        let layerCount = memoryModel.lm.model.config.numHiddenLayers
        guard settings.layers.upperBound < layerCount else {
            throw MemoRAGError.invalidArgument("memory attention over layers \(settings.layers.lowerBound)-\(settings.layers.upperBound), "
                + "but the memory model has layers 0-\(layerCount - 1)")
        }
        let maps = try memoryAttentionMaps(store, layers: settings.layers)
        var sums: [Int: Double] = [:]
        var counts: [Int: Int] = [:]
        for (d, memory) in store.memories.enumerated() {
            let perLayer = try attention(of: query, memory: beaconMemory(memory), layers: settings.layers, store: store)
            for (entry, chunk) in maps.entryChunks[d].enumerated() {
                guard let chunk else { continue }
                counts[chunk, default: 0] += 1
                for layer in settings.layers {
                    sums[chunk, default: 0] += Self.lift(perLayer[layer][entry], over: maps.neutral[d][layer][entry])
                }
            }
        }
        let scores = sums.map { (chunk: $0.key, score: $0.value / Double(counts[$0.key] ?? 1)) }
        return scores.sorted { $0.score != $1.score ? $0.score > $1.score : $0.chunk < $1.chunk }.map(\.chunk)
    }

    /// The attention of the question's own tokens on `memory`'s entries, per layer: the recall prompt cut after the
    /// question, its opening read once per memory (the rows of the instructions after a question mostly look where
    /// every question looks).
    private func attention(of question: String, memory: BeaconContextMemory, layers: ClosedRange<Int>,
                           store: MemoryStore) throws -> [[Float]]
    {
        let head = store.prompts.recall.components(separatedBy: "{question}").first ?? ""
        let ids = memoryModel.taskPromptIds(head + question)
        let opening = zip(ids, memoryModel.taskPromptIds(head + "\u{1}")).prefix { $0 == $1 }.count
        return try memory.attention(memoryModel.lm, promptIds: ids, sharedPrefix: min(opening, ids.count - 1),
                                    layers: layers)
    }

    private func beaconMemory(_ memory: any ContextMemory) throws -> BeaconContextMemory {
        guard let beacon = memory as? BeaconContextMemory else {
            throw MemoRAGError.invalidArgument("memory attention reads beacon memories; this cache holds a \(memory.mode.rawValue) memory")
        }
        return beacon
    }

    private func memoryAttentionMaps(_ store: MemoryStore, layers: ClosedRange<Int>) throws -> MemoryAttentionMaps {
        let key = store.manifest.documents.map(\.sha256)
        if let cached = memoryAttentionCache, cached.key == key, cached.layers == layers { return cached }
        var maps = MemoryAttentionMaps(key: key, layers: layers, entryChunks: [], neutral: [])
        for (d, memory) in store.memories.enumerated() {
            let beacon = try beaconMemory(memory)
            maps.neutral.append(try attention(of: Self.neutralQuestion, memory: beacon, layers: layers, store: store))
            maps.entryChunks.append(entryChunks(try beacon.entryTokenRanges(), document: store.manifest.documents[d],
                                                store: store))
        }
        memoryAttentionCache = maps
        return maps
    }

    /// The passage each entry's tokens (indices into the memory prompt) fall in, by their middle token. The cache
    /// keeps the passages, not the document, so a passage's first token is estimated: the passages' own token
    /// counts, stretched to the document's token count (the whitespace between passages and the joins the
    /// tokenizer makes across them spread evenly), after the prompt's opening.
    private func entryChunks(_ entryTokens: [Range<Int>], document: CacheManifest.Document, store: MemoryStore) -> [Int?] {
        let tokenizer = memoryModel.lm.tokenizer
        // The memory prompt's tokens before and after the document: two one-letter documents differ in one token.
        let a = memoryModel.memoryPromptIds(document: "A", prompts: store.prompts)
        let b = memoryModel.memoryPromptIds(document: "B", prompts: store.prompts)
        let opening = zip(a, b).prefix { $0 == $1 }.count
        let closing = max(0, a.count - opening - 1)
        let documentTokens = Double(max(1, document.tokens - opening - closing))
        let passages = store.chunks[document.firstChunk..<(document.firstChunk + document.chunkCount)]
        let lengths = passages.map { Double(tokenizer.encode($0.text, addSpecialTokens: false).count) }
        let stretch = documentTokens / max(1, lengths.reduce(0, +))
        var starts: [Double] = []
        var at = Double(opening)
        for length in lengths {
            starts.append(at)
            at += length * stretch
        }
        let end = Double(opening) + documentTokens
        return entryTokens.map { range in
            let middle = Double(range.lowerBound + range.upperBound) / 2
            guard middle >= Double(opening), middle < end, !starts.isEmpty else { return nil }
            // The last passage starting at or before the middle token.
            var (low, high) = (0, starts.count - 1)
            while low < high {
                let mid = (low + high + 1) / 2
                if starts[mid] <= middle { low = mid } else { high = mid - 1 }
            }
            return document.firstChunk + low
        }
    }
}
