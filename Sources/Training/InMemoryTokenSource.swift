import Foundation
import Torch

/// Plain causal-LM batches from token arrays held in memory: the documents are concatenated into one stream, cut
/// into non-overlapping windows of `length` tokens, and each epoch visits the windows in a seeded random order.
/// The cursor is (epoch, index into that order), so a restored source continues bitwise.
public final class InMemoryTokenSource: TrainingDataSource {
    public let length: Int
    public let batchSize: Int
    public let seed: UInt64
    private let stream: [Int64]
    private let windowCount: Int
    private var epoch = 0
    private var index = 0
    private var order: [Int]

    public init(documents: [[Int]], length: Int, batchSize: Int, seed: UInt64) throws {
        guard length > 1, batchSize > 0 else { throw TrainingDataError.tooLittleData("length must be > 1 and batch size > 0") }
        stream = documents.flatMap { $0.map(Int64.init) }
        windowCount = stream.count / length
        guard windowCount >= batchSize else {
            throw TrainingDataError.tooLittleData(
                "\(stream.count) tokens make \(windowCount) windows of \(length), fewer than one batch of \(batchSize)")
        }
        self.length = length
        self.batchSize = batchSize
        self.seed = seed
        order = Self.shuffledOrder(count: windowCount, seed: seed, epoch: 0)
    }

    /// Reads a JSON file holding an array of documents, each an array of token ids.
    public static func documents(json url: URL) throws -> [[Int]] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TrainingDataError.unreadable(path: url.path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        guard let documents = try? JSONDecoder().decode([[Int]].self, from: data) else {
            throw TrainingDataError.unreadable(path: url.path, reason: "expected a JSON array of token-id arrays ([[1, 2, …], …])")
        }
        return documents
    }

    public var cursor: DataCursor { DataCursor(["epoch": epoch, "index": index]) }

    public func restore(_ cursor: DataCursor) throws {
        guard let epoch = cursor["epoch"], let index = cursor["index"], epoch >= 0, index >= 0,
              index <= windowCount
        else { throw TrainingDataError.badCursor("\(cursor.fields) does not fit \(windowCount) windows") }
        self.epoch = epoch
        self.index = index
        order = Self.shuffledOrder(count: windowCount, seed: seed, epoch: epoch)
    }

    public func next() throws -> TrainingBatch {
        if index + batchSize > windowCount {
            epoch += 1
            index = 0
            order = Self.shuffledOrder(count: windowCount, seed: seed, epoch: epoch)
        }
        var ids: [Int64] = []
        ids.reserveCapacity(batchSize * length)
        for window in order[index..<(index + batchSize)] {
            ids += stream[(window * length)..<((window + 1) * length)]
        }
        index += batchSize
        let tensor = try Tensor(ids, shape: [batchSize, length])
        return TrainingBatch(inputIds: tensor, labels: tensor)
    }

    /// Fisher–Yates with SplitMix64, so the order depends only on (seed, epoch), not on the platform's RNG.
    static func shuffledOrder(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }
}
