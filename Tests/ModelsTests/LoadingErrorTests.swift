import Foundation
import Models
import Torch
import XCTest
import TestSupport

/// Broken model directories give errors that name the file and the problem.
final class LoadingErrorTests: XCTestCase {
    let source = DecoderParityTests.fixtures.appendingPathComponent("llama")
    var dir: URL!

    override func setUpWithError() throws {
        dir = try temporaryDirectory("model")
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func editConfig(_ edit: (inout [String: Any]) -> Void) throws {
        let url = dir.appendingPathComponent("config.json")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    func assertLoadFails(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try DecoderLM.load(directory: dir), file: file, line: line) { error in
            let message = error.localizedDescription
            for fragment in fragments {
                XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testUnknownModelType() throws {
        try editConfig { $0["model_type"] = "gpt_neox" }
        assertLoadFails(["config.json", "unsupported model_type 'gpt_neox'"])
    }

    func testCorruptConfig() throws {
        try Data("{\"model_type\": \"llama\", ".utf8).write(to: dir.appendingPathComponent("config.json"))
        assertLoadFails(["config.json", "not valid JSON"])
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        assertLoadFails(["config.json", "cannot read"])
    }

    func testMissingKeyAndBadSizes() throws {
        try editConfig { $0["hidden_size"] = nil }
        assertLoadFails(["config.json", "missing key 'hidden_size'"])
        try setUpWithError()
        try editConfig { $0["num_key_value_heads"] = 3 }
        assertLoadFails(["not a multiple"])
    }

    func testWeightsThatDoNotMatchTheConfig() throws {
        try editConfig { $0["intermediate_size"] = 128 }
        assertLoadFails([dir.path, "mlp.up_proj.weight has shape [96, 64] but the config implies [128, 64]"])
        try setUpWithError()
        try editConfig { $0["num_hidden_layers"] = 3 }
        assertLoadFails([dir.path, "num_hidden_layers is 3 but the weights hold 2 layers"])
        try setUpWithError()
        try editConfig { $0["tie_word_embeddings"] = true }  // the checkpoint has lm_head: dropped by sanitize, loads
        XCTAssertNoThrow(try DecoderLM.load(directory: dir))
    }

    func testTruncatedWeights() throws {
        let url = dir.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: url)
        assertLoadFails(["model.safetensors"])
    }
}
