import Foundation
import Torch

/// This rank's rows of every global batch. The wrapped source is built for the global batch (`batch_size ×
/// world size` rows, from the recipe's seed) and every rank reads all of it, keeping rows `rank·B ..< (rank+1)·B`.
/// So the sequence of global batches depends on the seed alone, never on the world size: 2 ranks × batch 1 train on
/// exactly the samples, in the same steps, of 1 rank × batch 2. The cursor is the global source's (the same on
/// every rank), so a checkpoint resumes on any world size.
public final class ShardedDataSource: TrainingDataSource {
    public let global: TrainingDataSource
    public let rank: Int
    public let worldSize: Int

    public init(global: TrainingDataSource, rank: Int, worldSize: Int) {
        self.global = global
        self.rank = rank
        self.worldSize = worldSize
    }

    public func next() throws -> TrainingBatch {
        let batch = try global.next()
        let rows = batch.inputIds.dim(0)
        guard rows % worldSize == 0 else {
            throw TrainingDataError.tooLittleData("a global batch of \(rows) rows does not split into \(worldSize) ranks")
        }
        let share = rows / worldSize
        return TrainingBatch(inputIds: try batch.inputIds.narrow(dim: 0, start: rank * share, length: share).contiguous(),
                             labels: try batch.labels.narrow(dim: 0, start: rank * share, length: share).contiguous(),
                             referenceLogProbs: batch.referenceLogProbs.map { Array($0[rank * share..<(rank + 1) * share]) })
    }

    public var cursor: DataCursor { global.cursor }

    public func restore(_ cursor: DataCursor) throws { try global.restore(cursor) }
}
