import Foundation
import TestSupport
import Tokenizers
import XCTest

@testable import Datasets

/// Stores that would mislead training are refused (issue 22).
final class StoreHardeningTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try temporaryDirectory("store-hardening") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A damaged `tokenizer_sha256` attribute (not 64 hex digits) used to pass unnoticed when no hash was expected.
    func testADamagedTokenizerHashIsRefused() throws {
        for (name, damaged) in [("short", "0123abc"), ("nonhex", String(repeating: "zz", count: 32))] {
            let url = dir.appendingPathComponent("\(name).h5")
            let writer = try TokenStoreWriter(url: url, vocabSize: 10, tokenizerSHA256: damaged)
            try writer.append(document: [1, 2, 3])
            try writer.finish()
            assertThrowsDataError(try TokenStore(url: url), containing: [url.path, "tokenizer_sha256", "not a sha256"])
            let sft = dir.appendingPathComponent("\(name)-sft.h5")
            let sftWriter = try SFTStoreWriter(url: sft, vocabSize: 10, tokenizerSHA256: damaged)
            try sftWriter.addExample(contextID: nil, prompt: [1], target: [2, 3], task: .recall)
            try sftWriter.finish()
            assertThrowsDataError(try SFTStore(url: sft), containing: [sft.path, "not a sha256"])
        }
    }

    /// `data prepare` on an empty file used to replace a good store with one holding no tokens.
    func testPrepareRefusesInputsWithoutTextAndKeepsTheOutput() throws {
        let tokenizerDir = dir.appendingPathComponent("tok")
        try writeTinyTokenizer(to: tokenizerDir, texts: ["a few words to learn merges from", "and a few more words"])
        let tok = try loadTokenizer(directory: tokenizerDir)
        let hash = try TokenizerFingerprint.sha256(directory: tokenizerDir)
        let good = dir.appendingPathComponent("good.h5")
        let text = dir.appendingPathComponent("text.txt")
        try "a few words".write(to: text, atomically: true, encoding: .utf8)
        _ = try PretrainingBuilder.build(inputs: [text], tokenizer: tok, tokenizerSHA256: hash, output: good)
        let before = try Data(contentsOf: good)

        let empty = dir.appendingPathComponent("empty.txt"), blank = dir.appendingPathComponent("blank.jsonl")
        try Data().write(to: empty)
        try "\n\n".write(to: blank, atomically: true, encoding: .utf8)
        for input in [[empty], [blank], [empty, blank]] {
            assertThrowsDataError(try PretrainingBuilder.build(inputs: input, tokenizer: tok, tokenizerSHA256: hash,
                                                               output: good),
                                  containing: [input[0].path, "no text", "good.h5 was not written"])
            XCTAssertEqual(try Data(contentsOf: good), before, "the good store is untouched")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }, [])
    }
}
