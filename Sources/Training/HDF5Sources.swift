import Datasets
import Foundation
import Torch

/// Pretraining batches from an HDF5 token store: seeded random windows of `min_length…max_length` tokens (documents
/// joined by EOS when one is too short), every token labelled. The cursor is the sample index: window i is a pure
/// function of (seed, i), so resuming replays nothing and skips nothing.
public final class TokenStoreSource: TrainingDataSource {
    private let sampler: LongContextSampler
    private let minLength: Int
    private let maxLength: Int
    private let seed: UInt64
    private let batchSize: Int
    private var index = 0

    /// `validation` picks the store's validation documents instead of the training ones. `model` refuses a store
    /// made for another model (see `StoreCompatibility`).
    public init(url: URL, minLength: Int, maxLength: Int, batchSize: Int, seed: UInt64, separatorToken: Int?,
                validation: Bool = false, model: StoreCompatibility? = nil) throws {
        let store = try TokenStore(url: url, tokenizerSHA256: model?.tokenizerSHA256)
        try model?.check(url: url, vocabSize: store.vocabSize)
        let documents = validation ? store.validationDocuments : store.trainingDocuments
        guard !documents.isEmpty else {
            throw TrainingDataError.tooLittleData("\(url.path) has no \(validation ? "validation" : "training") documents")
        }
        sampler = try LongContextSampler(store: store, documents: documents, separatorToken: separatorToken)
        self.minLength = minLength
        self.maxLength = maxLength
        self.seed = seed
        self.batchSize = batchSize
    }

    public func next() throws -> TrainingBatch {
        // One length per batch so the rows stack; the length is that of the batch's first window.
        var rows: [[Int64]] = []
        for _ in 0..<batchSize {
            let window = try sampler.sample(minLength: minLength, maxLength: maxLength, seed: seed, cursor: index)
            index += 1
            rows.append(window.tokens.map(Int64.init))
        }
        let length = rows.map(\.count).min()!
        let flat = rows.flatMap { $0.prefix(length) }
        let ids = try Tensor(flat, shape: [batchSize, length])
        return TrainingBatch(inputIds: ids, labels: ids)
    }

    public var cursor: DataCursor { DataCursor(["sample": index]) }

    public func restore(_ cursor: DataCursor) throws {
        guard let sample = cursor["sample"], sample >= 0 else {
            throw TrainingDataError.badCursor("expected a 'sample' index, got \(cursor.fields)")
        }
        index = sample
    }
}

/// Clue SFT batches from an HDF5 SFT store: each example is its memorized context (the document inside MemoRAG's
/// memory turns), the task turn and the reply, with labels only on the reply. Examples come in a seeded order,
/// reshuffled every epoch; the cursor is (epoch, index). A batch of several examples is right-padded to its longest
/// (padding labelled −100; the beacon objective drops it, so each row trains exactly as it would alone).
public final class SFTStoreSource: TrainingDataSource {
    private let store: SFTStore
    private let maxLength: Int
    private let batchSize: Int
    private var order: SeededEpochOrder

    public init(url: URL, maxLength: Int, batchSize: Int = 1, seed: UInt64, model: StoreCompatibility? = nil) throws {
        store = try SFTStore(url: url, tokenizerSHA256: model?.tokenizerSHA256)
        try model?.check(url: url, vocabSize: store.vocabSize)
        guard store.exampleCount > 0 else { throw TrainingDataError.tooLittleData("\(url.path) has no examples") }
        guard batchSize > 0 else { throw TrainingDataError.tooLittleData("batch size must be positive") }
        self.maxLength = maxLength
        self.batchSize = batchSize
        order = SeededEpochOrder(count: store.exampleCount, seed: seed)
    }

    public func next() throws -> TrainingBatch {
        try Self.batch(try (0..<batchSize).map { _ in try Self.row(store, order.next(), maxLength: maxLength) })
    }

    /// Example `index` of `store` as a training row: the context and prompt unlabelled, then the reply labelled.
    static func row(_ store: SFTStore, _ index: Int, maxLength: Int) throws -> (ids: [Int64], labels: [Int64]) {
        let example = try store.example(index)
        let context = try example.contextID.map { try store.context($0) } ?? []
        let prompt = context + example.prompt
        // Keep the reply whole; cut the context from the front when the sample is too long.
        var ids = (prompt + example.target).map(Int64.init)
        var labels = Array(repeating: Int64(TrainingBatch.ignoreIndex), count: prompt.count) + example.target.map(Int64.init)
        if ids.count > maxLength {
            ids.removeFirst(ids.count - maxLength)
            labels.removeFirst(labels.count - maxLength)
        }
        return (ids, labels)
    }

    /// Rows padded to the longest (ids 0, labels ignored: `BeaconObjective` drops the padding again).
    static func batch(_ rows: [(ids: [Int64], labels: [Int64])], referenceLogProbs: [Double]? = nil) throws
        -> TrainingBatch
    {
        let length = rows.map(\.ids.count).max()!
        let padding = Int64(TrainingBatch.ignoreIndex)
        var ids: [Int64] = [], labels: [Int64] = []
        for row in rows {
            ids += row.ids + Array(repeating: 0, count: length - row.ids.count)
            labels += row.labels + Array(repeating: padding, count: length - row.labels.count)
        }
        return TrainingBatch(inputIds: try Tensor(ids, shape: [rows.count, length]),
                             labels: try Tensor(labels, shape: [rows.count, length]), referenceLogProbs: referenceLogProbs)
    }

    public var cursor: DataCursor { order.cursor }

    public func restore(_ cursor: DataCursor) throws { try order.restore(cursor) }
}

/// Indices 0..<count in a seeded order, reshuffled every epoch; the cursor is (epoch, index).
struct SeededEpochOrder {
    let count: Int
    let seed: UInt64
    private var order: [Int] = []
    private var epoch = 0
    private var index = 0

    init(count: Int, seed: UInt64) {
        self.count = count
        self.seed = seed
        shuffle()
    }

    private mutating func shuffle() {
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9)
        order = Array(0..<count).shuffled(using: &rng)
    }

    mutating func next() -> Int {
        if index == order.count {
            epoch += 1
            index = 0
            shuffle()
        }
        index += 1
        return order[index - 1]
    }

    var cursor: DataCursor { DataCursor(["epoch": epoch, "index": index]) }

    mutating func restore(_ cursor: DataCursor) throws {
        guard let epoch = cursor["epoch"], let index = cursor["index"], epoch >= 0, index >= 0, index <= count else {
            throw TrainingDataError.badCursor("expected 'epoch' and 'index', got \(cursor.fields)")
        }
        self.epoch = epoch
        shuffle()
        self.index = index
    }
}

/// What a data store must match to feed a model: the model's tokenizer (the sha256 of its tokenizer.json, when it
/// has one; the store records the one it was made with) and its vocabulary (ids beyond the embedding fail deep inside
/// libtorch as "index out of range"). Checked when the store is opened, before any step.
public struct StoreCompatibility: Sendable {
    public var tokenizerSHA256: String?
    public var vocabSize: Int

    public init(tokenizerSHA256: String?, vocabSize: Int) {
        self.tokenizerSHA256 = tokenizerSHA256
        self.vocabSize = vocabSize
    }

    /// The model's: its tokenizer.json among the files that travel with it, and its embedding rows.
    public init(_ source: ModelSource) {
        self.init(tokenizerSHA256: source.files["tokenizer.json"].map { SHA256.hex($0) },
                  vocabSize: source.decoder.config.vocabSize)
    }

    func check(url: URL, vocabSize storeVocabulary: Int) throws {
        guard storeVocabulary <= vocabSize else {
            throw TrainingDataError.unreadable(path: url.path, reason: "its tokenizer has \(storeVocabulary) ids but the "
                + "model embeds \(vocabSize): the store was made for another model; prepare the data again with "
                + "the model's tokenizer")
        }
    }
}
