import Foundation
import TestSupport
import TinyModels
import Tokenizers
import XCTest

@testable import Datasets

/// A byte-level BPE tokenizer trained for the test on `texts`, with ChatML special tokens and a ChatML chat
/// template in tokenizer_config.json, written to `dir` (vocabulary ≤ 512, the tiny llama fixture's size).
func writeTinyTokenizer(to dir: URL, texts: [String], vocabSize: Int = 400) throws {
    try TinyModels.writeChatTokenizer(to: dir, texts: texts, vocabSize: vocabSize)
}

let aliceText: String = {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/alice.txt")
    return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
}()
