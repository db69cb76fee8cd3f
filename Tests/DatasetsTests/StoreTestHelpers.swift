import Foundation
import TestSupport
import XCTest

@testable import Datasets

let testTokenizerHash = String(repeating: "0123456789abcdef", count: 4)

/// Writes a pretraining store with these documents (vocabulary 1000).
func writeTokenStore(_ url: URL, documents: [[Int]], vocabSize: Int = 1000, validation: [Int]? = nil,
                     chunk: Int = 7) throws {
    let writer = try TokenStoreWriter(url: url, vocabSize: vocabSize, tokenizerSHA256: testTokenizerHash,
                                      chunkTokens: chunk)
    writer.addSource("a.txt")
    writer.addSource("b.jsonl")
    for d in documents { try writer.append(document: d) }
    if let validation { writer.setValidationDocuments(validation) }
    try writer.finish()
}

/// The fixture script for h5py checks, or a skip when no reference Python is configured.
func h5Interop() throws -> (python: String, script: String) {
    guard let python = ProcessInfo.processInfo.environment["MEMORAG_PYTHON"], !python.isEmpty else {
        throw XCTSkip("MEMORAG_PYTHON is not set: set it to a python with h5py (scripts/check-venv.sh) to check "
                      + "our HDF5 files against h5py")
    }
    let script = Bundle.module.url(forResource: "Fixtures/h5_interop", withExtension: "py")!.path
    return (python, script)
}

func assertThrowsDataError(_ expression: @autoclosure () throws -> Any, containing parts: [String],
                           file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expression()
        XCTFail("expected an error containing \(parts)", file: file, line: line)
    } catch {
        let message = error.localizedDescription
        XCTAssertTrue(error is DataError, "not a DataError: \(error)", file: file, line: line)
        for p in parts {
            XCTAssertTrue(message.contains(p), "\"\(message)\" lacks \"\(p)\"", file: file, line: line)
        }
    }
}
