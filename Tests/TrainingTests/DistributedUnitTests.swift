import Foundation
import Torch
import Training
import XCTest

/// The in-process parts of data-parallel training: reading a rank's variables and splitting global batches.
/// (Real ranks over c10d are in DistributedTests.)
final class DistributedUnitTests: XCTestCase {
    func testRankVariablesAreReadAsTorchrunSetsThem() throws {
        XCTAssertNil(try RankEnvironment.current([:]), "no WORLD_SIZE: one process")
        XCTAssertNil(try RankEnvironment.current(["WORLD_SIZE": "1", "RANK": "0"]), "a world of one is one process")
        let rank = try RankEnvironment.current(["RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                                                "MASTER_ADDR": "node0", "MASTER_PORT": "29500"])
        XCTAssertEqual(rank, RankEnvironment(rank: 1, worldSize: 4, localRank: 1, localWorldSize: 2,
                                             masterAddress: "node0", masterPort: 29500))
        XCTAssertEqual(rank?.isLoopback, false)

        let bad: [([String: String], String)] = [
            (["RANK": "0"], "WORLD_SIZE is not set but RANK is"),
            (["WORLD_SIZE": "two"], "WORLD_SIZE is 'two', not an integer"),
            (["WORLD_SIZE": "2"], "RANK is not set"),
            (["WORLD_SIZE": "2", "RANK": "2"], "RANK is 2, outside 0…1"),
            (["WORLD_SIZE": "2", "RANK": "1", "MASTER_PORT": "29500"], "MASTER_ADDR is not set"),
            (["WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "h"], "MASTER_PORT is not set"),
            (["WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "70000"], "not a port"),
            (["WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "3", "MASTER_ADDR": "h", "MASTER_PORT": "1"], "LOCAL_RANK is 3"),
        ]
        for (variables, message) in bad {
            XCTAssertThrowsError(try RankEnvironment.current(variables), "\(variables)") { error in
                XCTAssertTrue(error.localizedDescription.contains(message), "\(variables): \(error.localizedDescription)")
            }
        }
    }

    /// Each rank keeps its rows of every global batch: the shards are disjoint, together they are the global batch,
    /// and over an epoch they cover every window once.
    func testShardsAreDisjointAndCoverTheData() throws {
        let documents = [Array(0..<(16 * 12))]
        let global = try InMemoryTokenSource(documents: documents, length: 16, batchSize: 4, seed: 7)
        let shards = try (0..<2).map { rank in
            ShardedDataSource(global: try InMemoryTokenSource(documents: documents, length: 16, batchSize: 4, seed: 7),
                              rank: rank, worldSize: 2)
        }
        var seen: [Int] = []
        for _ in 0..<3 {  // 12 windows, global batches of 4: one epoch
            let whole = try global.next().inputIds.toArray(Int64.self)
            let parts = try shards.map { try $0.next().inputIds.toArray(Int64.self) }
            XCTAssertEqual(parts[0] + parts[1], whole, "rank 0 then rank 1 is the global batch")
            seen += stride(from: 0, to: whole.count, by: 16).map { Int(whole[$0]) / 16 }
        }
        XCTAssertEqual(seen.sorted(), Array(0..<12), "every window once")
        XCTAssertEqual(shards[0].cursor, global.cursor, "the cursor is the global one")
    }
}
