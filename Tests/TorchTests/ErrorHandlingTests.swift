import Foundation
import Torch
import XCTest
import TestSupport

final class ErrorHandlingTests: XCTestCase {
    func testShapeMismatchBecomesASwiftErrorWithLibtorchsMessage() throws {
        let a = try Tensor.ones([2, 3]), b = try Tensor.ones([4, 5])
        XCTAssertThrowsError(try a.matmul(b)) { error in
            let message = (error as? TorchError)?.message ?? ""
            XCTAssertTrue(message.contains("cannot be multiplied") || message.contains("size mismatch")
                          || message.contains("shapes"), "unexpected message: \(message)")
            XCTAssertFalse(message.contains("Exception raised from"), "the C++ backtrace should not leak: \(message)")
        }
        XCTAssertThrowsError(try a + b) { error in
            XCTAssertTrue((error as? TorchError)?.message.contains("must match") ?? false, "\(error)")
        }
        // The process keeps working after the error.
        assertClose(try a.matmul(try Tensor.ones([3, 1])), [3, 3], shape: [2, 1])
    }

    func testErrorsFromEveryLayer() throws {
        XCTAssertThrowsError(try Tensor.ones([2]).select(dim: 0, index: 5))
        XCTAssertThrowsError(try Tensor.ones([2, 2]).indexSelect(dim: 0, try Tensor([7] as [Int64])))
        XCTAssertThrowsError(try Functional.crossEntropy(try Tensor.ones([2, 3]), targets: try Tensor([0, 9] as [Int64])))
        XCTAssertThrowsError(try Tensor.cat([]))
        XCTAssertThrowsError(try Functional.scaledDotProductAttention(
            try Tensor.ones([1, 2, 4]), try Tensor.ones([1, 3, 5]), try Tensor.ones([1, 3, 4])))
    }

    func testCreatingAndDroppingManyTensorsKeepsMemoryFlat() throws {
        let x = try Tensor.ones([64])
        func churn(_ n: Int) throws {
            for _ in 0..<n { _ = try (x + 1.0).sum() }
        }
        try churn(10_000)  // warm up allocator caches
        let before = residentBytes()
        try churn(100_000)  // 2e5 tensors created and dropped
        let grown = residentBytes() - before
        // Leaking a handle leaks at least a TensorImpl plus storage (> 300 bytes): 2e5 of them would be > 60 MB.
        XCTAssertLessThan(grown, 16 << 20, "RSS grew by \(grown >> 20) MiB over 2e5 tensors")
    }
}
