import TestSupport
import Torch
import XCTest

@testable import NN

/// The growable key/value cache: appends write in place, yet what was handed out (views, copies) never changes.
final class KVCacheLayerTests: XCTestCase {
    func rows(_ n: Int, _ offset: Double) throws -> Tensor {
        try (Tensor.arange(0, Double(n * 4), dtype: .float32) + offset).reshape(1, 1, n, 4)
    }

    func testAppendsGrowPastTheBufferAndCopiesStayIndependent() throws {
        let layer = KVCacheLayer()
        var expected = try rows(0, 0)
        for step in 0..<300 {  // crosses the first 256-row buffer
            let k = try rows(step % 3 + 1, Double(step) * 1000)
            _ = try layer.append(keys: k, values: k)
            expected = try Tensor.cat([expected, k], dim: 2)
        }
        XCTAssertEqual(layer.count, expected.dim(2))
        XCTAssertTrue(try layer.keys!.equals(expected))
        XCTAssertTrue(try layer.values!.equals(expected))

        let before = try layer.keys!.contiguous()
        let handedOut = layer.keys!
        let copy = KVCacheLayer(keys: layer.keys!, values: layer.values!)
        _ = try layer.append(keys: try rows(2, -1), values: try rows(2, -1))
        _ = try copy.append(keys: try rows(2, -7), values: try rows(2, -7))
        XCTAssertTrue(try handedOut.equals(before), "a view handed out earlier never changes")
        XCTAssertTrue(try layer.keys!.narrow(dim: 2, start: before.dim(2), length: 2).equals(try rows(2, -1)))
        XCTAssertTrue(try copy.keys!.narrow(dim: 2, start: before.dim(2), length: 2).equals(try rows(2, -7)))
        XCTAssertTrue(try copy.keys!.narrow(dim: 2, start: 0, length: before.dim(2)).equals(before))
        layer.reset()
        XCTAssertEqual(layer.count, 0)
        XCTAssertNil(layer.keys)
    }
}
