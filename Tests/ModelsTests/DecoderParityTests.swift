import Foundation
import Models
import Torch
import XCTest
import TestSupport

/// Tiny random Llama / Qwen2 / Mistral models saved by transformers (Fixtures/decoders/make_decoder_fixtures.py):
/// our last-position logits and 20 greedy tokens against transformers'.
final class DecoderParityTests: XCTestCase {
    struct Expected: Decodable {
        var prompts: [[Int]]
        var last_logits: [[Double]]
        var greedy: [[Int]]
    }

    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("decoders")

    func check(_ arch: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = Self.fixtures.appendingPathComponent(arch)
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: dir.appendingPathComponent("expected.json")))
        let model = try DecoderLM.load(directory: dir)
        for (i, prompt) in expected.prompts.enumerated() {
            let logits = try withNoGrad {
                try model.lastLogits(try Tensor(prompt.map { Int64($0) }, shape: [1, prompt.count]))
            }
            assertClose(try logits.reshape(-1), try Tensor(expected.last_logits[i]), atol: 1e-4, rtol: 1e-4,
                        "\(arch) prompt \(i)", file: file, line: line)
            let result = try model.generate(promptIds: prompt, parameters: .init(maxNewTokens: 20))
            XCTAssertEqual(result.outputIds, expected.greedy[i], "\(arch) prompt \(i)", file: file, line: line)
        }
    }

    func testLlamaWithLlama3RopeScaling() throws { try check("llama") }
    func testQwen2WithBiasesAndTiedEmbeddings() throws { try check("qwen2") }
    func testMistralWithOneKVHead() throws { try check("mistral") }

    func testIncrementalDecodingEqualsFullRecompute() throws {
        let model = try DecoderLM.load(directory: Self.fixtures.appendingPathComponent("llama"))
        let ids: [Int64] = [5, 17, 300, 42, 7, 99, 250]
        let full = try withNoGrad { try model(try Tensor(ids, shape: [1, ids.count])) }
        let cache = model.makeCache()
        for (i, id) in ids.enumerated() {
            let step = try withNoGrad { try model(try Tensor([id], shape: [1, 1]), cache: cache) }
            assertClose(try step.reshape(-1), try full.select(dim: 1, index: i).reshape(-1), atol: 1e-4, rtol: 1e-4)
        }
        XCTAssertEqual(cache.count, ids.count)
    }
}
