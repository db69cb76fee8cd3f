import Foundation
import TestSupport
import Tokenizers
import XCTest

@testable import Datasets

/// A byte-level BPE tokenizer trained for the test on `texts`, with ChatML special tokens and a ChatML chat
/// template in tokenizer_config.json, written to `dir` (vocabulary ≤ 512, the tiny llama fixture's size).
func writeTinyTokenizer(to dir: URL, texts: [String], vocabSize: Int = 400) throws {
    let trained = try BPETrainer.train(texts: texts, vocabSize: vocabSize, minFrequency: 2,
                                       specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    try trained.write(to: dir)
    let configURL = dir.appendingPathComponent("tokenizer_config.json")
    var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
    config["chat_template"] = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
        + "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
        + "{{ '<|im_start|>assistant\\n' }}{% endif %}"
    try JSONSerialization.data(withJSONObject: config).write(to: configURL)
}

let aliceText: String = {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/alice.txt")
    return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
}()
