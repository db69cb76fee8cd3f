import Foundation
@testable import Models
import Torch
import XCTest
import TestSupport

/// Where a prompt looks in a beacon memory: the attention share of each memory entry, checked against a plain softmax
/// written out by hand, and the tokens each entry stands for.
final class BeaconMemoryAttentionTests: XCTestCase {
    func ids(_ n: Int, seed: Int = 3) -> [Int] { (0..<n).map { 3 + ($0 * 37 + seed * 11) % 90 } }

    /// The fixture's window is 16 tokens: 37 tokens at ratio 4 are two finished windows (8 beacons of 4 tokens) and an
    /// unfinished one holding tokens 32…36 raw, with a beacon after the fourth.
    func testEntriesStandForTheTokensOfTheWindowLayout() throws {
        let model = try DecoderLM.load(directory: BeaconParityTests.fixtures.appendingPathComponent("llama"))
        XCTAssertEqual(model.config.beacon?.window, 16)
        let memory = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(ids(37), into: memory)
        let beacons = (0..<8).map { ($0 * 4)..<($0 * 4 + 4) }
        XCTAssertEqual(try memory.entryTokenRanges(), beacons + [32..<33, 33..<34, 34..<35, 35..<36, 32..<36, 36..<37])
        // Two whole windows leave no raw entries.
        let whole = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(ids(32), into: whole)
        XCTAssertEqual(try whole.entryTokenRanges(), beacons)
        // Under a random mix the past windows' ratios are not kept.
        let mixed = try model.makeBeaconMemory(rule: .stepRandom([2, 4], seed: 1))
        try model.memorize(ids(20), into: mixed)
        XCTAssertThrowsError(try mixed.entryTokenRanges())
    }

    /// Heads 0–1 read kv head 0 and heads 2–3 kv head 1; each row's softmax runs over the whole memory and the
    /// window's keys up to its own. The share is summed over heads and the chosen rows.
    func testTheShareIsTheSoftmaxProbabilityOfEachMemoryEntry() throws {
        let (heads, kvHeads, length, dim, memoryLength, entries) = (4, 2, 3, 4, 5, 4)
        let q = try Tensor.randn([1, heads, length, dim])
        let memoryKeys = try Tensor.randn([1, kvHeads, memoryLength, dim])
        let windowKeys = try Tensor.randn([1, kvHeads, length, dim])
        let rows = [0, 2]
        // The memory in two pieces, as a shared memory and a copy's own entries are held.
        let pieces = [(keys: try memoryKeys.narrow(dim: 2, start: 0, length: 2), values: try memoryKeys.narrow(dim: 2, start: 0, length: 2)),
                      (keys: try memoryKeys.narrow(dim: 2, start: 2, length: 3), values: try memoryKeys.narrow(dim: 2, start: 2, length: 3))]
        let share = try DecoderLM.attentionShare(q, memory: pieces, windowKeys: windowKeys, entries: entries,
                                                 rows: try Tensor(rows.map { Int64($0) }, shape: [rows.count]))

        let qv = try q.toArray(Float.self), mk = try memoryKeys.toArray(Float.self), wk = try windowKeys.toArray(Float.self)
        func dot(_ a: [Float], _ ai: Int, _ b: [Float], _ bi: Int) -> Double {
            (0..<dim).reduce(0) { $0 + Double(a[ai + $1]) * Double(b[bi + $1]) } / Double(dim).squareRoot()
        }
        var expected = [Double](repeating: 0, count: entries)
        for h in 0..<heads {
            let kv = h / (heads / kvHeads)
            for row in rows {
                let qi = (h * length + row) * dim
                let memoryLogits = (0..<memoryLength).map { dot(qv, qi, mk, (kv * memoryLength + $0) * dim) }
                let windowLogits = (0...row).map { dot(qv, qi, wk, (kv * length + $0) * dim) }
                let norm = (memoryLogits + windowLogits).map(Foundation.exp).reduce(0, +)
                for e in 0..<entries { expected[e] += Foundation.exp(memoryLogits[e]) / norm }
            }
        }
        assertClose(share, expected, atol: 1e-5)
    }

    /// Reading a prompt after the memory: a share per layer and entry, each row's shares summing to at most the
    /// number of heads; the stored memory is left as it was, so asking twice gives the same shares.
    func testAPromptsAttentionOnTheMemoryLeavesTheStoredMemoryAlone() throws {
        let model = try DecoderLM.load(directory: BeaconParityTests.fixtures.appendingPathComponent("llama"))
        let stored = try model.makeBeaconMemory(ratio: 4)
        try model.memorize(ids(37), into: stored)
        let entries = try stored.entryTokenRanges().count
        let prompt = ids(6, seed: 7)
        let first = try model.memoryAttention(promptIds: prompt, alreadyRead: 0, memory: try stored.copy(), entries: entries)
        XCTAssertEqual(first.count, model.config.numHiddenLayers)
        let heads = Float(model.config.numAttentionHeads)
        for layer in first {
            XCTAssertEqual(layer.count, entries)
            XCTAssertTrue(layer.allSatisfy { $0 >= 0 })
            XCTAssertLessThanOrEqual(layer.reduce(0, +), heads + 1e-4)
            XCTAssertGreaterThan(layer.reduce(0, +), 0)
        }
        XCTAssertEqual(stored.tokensSeen, 37)
        let second = try model.memoryAttention(promptIds: prompt, alreadyRead: 0, memory: try stored.copy(), entries: entries)
        XCTAssertEqual(first, second)
        // Measuring one layer gives that layer's shares and leaves the others empty.
        let one = try model.memoryAttention(promptIds: prompt, alreadyRead: 0, memory: try stored.copy(), entries: entries,
                                            layers: 1...1)
        XCTAssertEqual(one[1], first[1])
        XCTAssertTrue(one.enumerated().allSatisfy { $0.offset == 1 || $0.element.isEmpty })
        XCTAssertThrowsError(try model.memoryAttention(promptIds: prompt, alreadyRead: 0, memory: try stored.copy(),
                                                       entries: entries + 100))
    }
}
