import Foundation
import TestSupport
import XCTest

@testable import Datasets

/// What `body` writes to file descriptor 2.
func capturingStandardError(_ body: () throws -> Void) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: file.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: file) }
    fflush(nil)
    let saved = dup(2)
    let fd = open(file.path, O_WRONLY)
    dup2(fd, 2)
    close(fd)
    defer {
        fflush(nil)
        dup2(saved, 2)
        close(saved)
    }
    try body()
    fflush(nil)
    return (try? String(contentsOf: file, encoding: .utf8)) ?? ""
}

final class TokenStoreTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try temporaryDirectory("tokenstore") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    let documents: [[Int]] = [Array(0..<50), [], [999, 1, 2], Array(repeating: 7, count: 23), [42]]

    func testRoundTrip() throws {
        let url = dir.appendingPathComponent("x.h5")
        try writeTokenStore(url, documents: documents, validation: [3])
        let store = try TokenStore(url: url, tokenizerSHA256: testTokenizerHash)
        XCTAssertEqual(store.vocabSize, 1000)
        XCTAssertEqual(store.tokenizerSHA256, testTokenizerHash)
        XCTAssertEqual(store.sources, ["a.txt", "b.jsonl"])
        // The empty document is skipped by the writer.
        let kept = documents.filter { !$0.isEmpty }
        XCTAssertEqual(store.documentCount, kept.count)
        XCTAssertEqual(store.tokenCount, kept.map(\.count).reduce(0, +))
        for (i, d) in kept.enumerated() { XCTAssertEqual(try store.document(i).map(Int.init), d) }
        XCTAssertEqual(try store.tokens(48..<53).map(Int.init), [48, 49, 999, 1, 2])
        XCTAssertEqual(store.validationDocuments, [3])
        XCTAssertEqual(store.trainingDocuments, [0, 1, 2])
        // Nothing but the store is left in the directory (the temporary file was renamed).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["x.h5"])
    }

    func testAbandonedWriterLeavesNothing() throws {
        let url = dir.appendingPathComponent("never.h5")
        do {
            let writer = try TokenStoreWriter(url: url, vocabSize: 10, tokenizerSHA256: testTokenizerHash)
            try writer.append(document: [1, 2, 3])
            XCTAssertThrowsError(try writer.append(document: [10])) { error in
                XCTAssertTrue(error.localizedDescription.contains("outside the vocabulary"))
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testRefusesBadFiles() throws {
        let good = dir.appendingPathComponent("good.h5")
        try writeTokenStore(good, documents: documents)
        // Wrong tokenizer.
        assertThrowsDataError(try TokenStore(url: good, tokenizerSHA256: String(repeating: "f", count: 64)),
                              containing: [good.path, "another tokenizer"])
        // Missing file.
        let missing = dir.appendingPathComponent("missing.h5")
        assertThrowsDataError(try TokenStore(url: missing), containing: [missing.path, "no such file"])
        // Not HDF5 at all.
        let text = dir.appendingPathComponent("text.h5")
        try "just text".write(to: text, atomically: true, encoding: .utf8)
        assertThrowsDataError(try TokenStore(url: text), containing: [text.path, "not an HDF5 file"])
        // Truncated: HDF5's own error stack becomes the message, and HDF5 prints nothing itself.
        let truncated = dir.appendingPathComponent("truncated.h5")
        let bytes = try Data(contentsOf: good)
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        let printed = try capturingStandardError {
            assertThrowsDataError(try TokenStore(url: truncated), containing: [truncated.path, "HDF5 cannot open it"])
        }
        XCTAssertFalse(printed.contains("HDF5"), "HDF5 printed its error stack: \(printed.prefix(300))")
        // An SFT store is not a pretraining store.
        let sft = dir.appendingPathComponent("sft.h5")
        let writer = try SFTStoreWriter(url: sft, vocabSize: 1000, tokenizerSHA256: testTokenizerHash)
        try writer.addExample(contextID: nil, prompt: [1] as [Int], target: [2] as [Int], task: .answer)
        try writer.finish()
        assertThrowsDataError(try TokenStore(url: sft), containing: [sft.path, "format is memorag.sft, expected memorag.tokens"])
        assertThrowsDataError(try SFTStore(url: good), containing: [good.path, "expected memorag.sft"])
    }

    func testCorruptedContentsAreRefusedWithTheirProblem() throws {
        let (python, _) = try h5Interop()
        let url = dir.appendingPathComponent("bad.h5")
        let cases: [(String, String)] = [
            ("f.attrs['version'] = 7", "version 7 of memorag.tokens is not supported"),
            ("f.attrs['n_tokens'] = 3", "n_tokens attribute does not match"),
            ("del f['doc_offsets']; f['doc_offsets'] = np.array([0, 5, 2, 77], dtype=np.uint64)", "decreases at entry 2"),
            ("del f['doc_offsets']; f['doc_offsets'] = np.array([0, 5, 70], dtype=np.uint64)", "ends at 70"),
            ("del f['tokens']; f['tokens'] = np.arange(77, dtype=np.int64)", "dataset /tokens must hold uint32"),
            ("del f.attrs['format']", "no format attribute"),
        ]
        for (edit, message) in cases {
            try? FileManager.default.removeItem(at: url)
            try writeTokenStore(url, documents: documents)
            let script = "import h5py, numpy as np\nwith h5py.File('\(url.path)', 'a') as f:\n    \(edit)\n"
            let (status, output) = try runPythonCheck(python, ["-c", script])
            XCTAssertEqual(status, 0, output)
            assertThrowsDataError(try TokenStore(url: url), containing: [url.path, message])
        }
        // Token ids beyond the vocabulary are caught when read.
        try? FileManager.default.removeItem(at: url)
        try writeTokenStore(url, documents: documents)
        _ = try runPythonCheck(python, ["-c", "import h5py\nwith h5py.File('\(url.path)', 'a') as f:\n    f['tokens'][3] = 5000\n"])
        let store = try TokenStore(url: url)
        assertThrowsDataError(try store.document(0), containing: [url.path, "token 5000 at 3 is outside the vocabulary"])
    }

    func testH5pyReadsWhatWeWrite() throws {
        let (python, script) = try h5Interop()
        let url = dir.appendingPathComponent("ours.h5")
        let docs: [[Int]] = [Array(0..<40), [3, 1, 4, 1, 5], Array(repeating: 999, count: 17)]
        try writeTokenStore(url, documents: docs, validation: [0, 2])
        let expected: [String: Any] = ["vocab_size": 1000, "tokenizer_sha256": testTokenizerHash,
                                       "sources": ["a.txt", "b.jsonl"], "documents": docs, "validation": [0, 2]]
        let json = dir.appendingPathComponent("expected.json")
        try JSONSerialization.data(withJSONObject: expected).write(to: json)
        let (status, output) = try runPythonCheck(python, [script, "check-tokens", url.path, json.path])
        XCTAssertEqual(status, 0, output)
    }

    func testWeReadWhatH5pyWrites() throws {
        let (python, script) = try h5Interop()
        let url = dir.appendingPathComponent("theirs.h5")
        let (status, output) = try runPythonCheck(python, [script, "write-tokens", url.path])
        XCTAssertEqual(status, 0, output)
        let store = try TokenStore(url: url, tokenizerSHA256: String(repeating: "ab", count: 32))
        XCTAssertEqual(store.sources, ["h5py.txt"])
        XCTAssertEqual(store.documentCount, 3)
        XCTAssertEqual(try (0..<3).map { try store.document($0).map(Int.init) }, [[5, 6, 7], [8], [9, 10, 11, 12]])
        XCTAssertEqual(store.validationDocuments, [])
    }
}
