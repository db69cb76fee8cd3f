import Datasets
import Foundation
import Torch

/// The DPO batches of a clue-feedback round: pair i is example i of the round's kept store (the best clue set,
/// chosen) and of its rejected store (the worst set), with both replies' log-probabilities under the reference, the
/// weights the round started from. Pairs come in a seeded order reshuffled every epoch; a batch of `batchSize` pairs
/// is 2 × `batchSize` rows, each pair's chosen row before its rejected row (`DPOObjective`).
final class PreferencePairSource: TrainingDataSource {
    private let chosen: SFTStore
    private let rejected: SFTStore
    private let reference: [ReferencePair]
    private let maxLength: Int
    private let batchSize: Int
    private var order: SeededEpochOrder

    /// The reference log-probabilities of one pair.
    struct ReferencePair: Codable, Equatable {
        var chosen: Double
        var rejected: Double
    }

    init(chosen chosenURL: URL, rejected rejectedURL: URL, reference: [ReferencePair], maxLength: Int, batchSize: Int,
         seed: UInt64, model: StoreCompatibility?) throws {
        chosen = try Self.open(chosenURL, model: model)
        rejected = try Self.open(rejectedURL, model: model)
        guard chosen.exampleCount == rejected.exampleCount, reference.count == chosen.exampleCount else {
            throw TrainingDataError.unreadable(path: rejectedURL.path, reason: "\(rejected.exampleCount) rejected and "
                + "\(chosen.exampleCount) chosen replies with \(reference.count) reference pairs: not one pair per example")
        }
        guard chosen.exampleCount > 0 else { throw TrainingDataError.tooLittleData("\(chosenURL.path) has no examples") }
        guard batchSize > 0 else { throw TrainingDataError.tooLittleData("batch size must be positive") }
        self.reference = reference
        self.maxLength = maxLength
        self.batchSize = batchSize
        order = SeededEpochOrder(count: chosen.exampleCount, seed: seed)
    }

    private static func open(_ url: URL, model: StoreCompatibility?) throws -> SFTStore {
        let store = try SFTStore(url: url, tokenizerSHA256: model?.tokenizerSHA256)
        try model?.check(url: url, vocabSize: store.vocabSize)
        return store
    }

    func next() throws -> TrainingBatch {
        let pairs = (0..<batchSize).map { _ in order.next() }
        return try SFTStoreSource.batch(try pairs.flatMap { try rows(of: $0) },
                                        referenceLogProbs: pairs.flatMap { [reference[$0].chosen, reference[$0].rejected] })
    }

    private func rows(of pair: Int) throws -> [(ids: [Int64], labels: [Int64])] {
        [try SFTStoreSource.row(chosen, pair, maxLength: maxLength),
         try SFTStoreSource.row(rejected, pair, maxLength: maxLength)]
    }

    var cursor: DataCursor { order.cursor }

    func restore(_ cursor: DataCursor) throws { try order.restore(cursor) }

    /// Every pair's log-probabilities under the model as it is now (`logProbabilities` of a two-row batch), in
    /// store order: what a round's `reference.json` holds.
    static func referenceLogProbs(chosen: URL, rejected: URL, maxLength: Int, model: StoreCompatibility?,
                                  logProbabilities: (TrainingBatch) throws -> [Double]) throws -> [ReferencePair] {
        let chosenStore = try open(chosen, model: model), rejectedStore = try open(rejected, model: model)
        guard chosenStore.exampleCount == rejectedStore.exampleCount else {
            throw TrainingDataError.unreadable(path: rejected.path, reason: "\(rejectedStore.exampleCount) rejected "
                                               + "replies for \(chosenStore.exampleCount) chosen ones")
        }
        return try (0..<chosenStore.exampleCount).map { i in
            let batch = try SFTStoreSource.batch([try SFTStoreSource.row(chosenStore, i, maxLength: maxLength),
                                                  try SFTStoreSource.row(rejectedStore, i, maxLength: maxLength)])
            let values = try logProbabilities(batch)
            return ReferencePair(chosen: values[0], rejected: values[1])
        }
    }
}
