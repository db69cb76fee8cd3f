import Foundation
import Models
import Torch
import XCTest
import TestSupport

/// Generation refuses what it cannot do well instead of running for hours or printing noise: prompts past the
/// model's positions, non-finite logits, nonsensical sampling settings.
final class GenerationSafetyTests: XCTestCase {
    static func qwen2() throws -> DecoderLM {
        try DecoderLM.load(directory: DecoderParityTests.fixtures.appendingPathComponent("qwen2"))
    }

    func testAPromptPastThePositionsFailsAtOnceAndGenerationStopsAtTheLast() throws {
        let model = try Self.qwen2()
        let positions = model.config.maxPositionEmbeddings
        XCTAssertThrowsError(try model.generate(promptIds: Array(repeating: 5, count: positions + 1))) { error in
            XCTAssertTrue("\(error.localizedDescription)".contains("more than the model's \(positions) positions"),
                          error.localizedDescription)
        }
        let result = try model.generate(promptIds: Array(repeating: 5, count: positions - 3),
                                        parameters: .init(maxNewTokens: 50))
        XCTAssertEqual(result.outputIds.count, 4)  // the last one is chosen at the last position, never fed back
        XCTAssertEqual(result.finishReason, .length)
    }

    func testNonFiniteLogitsStopGenerationWithAClearError() throws {
        let source = DecoderParityTests.fixtures.appendingPathComponent("qwen2")
        let model = try DecoderLM.load(directory: source)
        var weights = try Safetensors.load(source.appendingPathComponent("model.safetensors")).tensors
        weights["model.norm.weight"] = try Tensor.full(weights["model.norm.weight"]!.shape, .nan)
        try model.load(weights: weights, from: source)  // installed directly: loading from a file refuses it
        XCTAssertThrowsError(try model.generate(promptIds: [1, 2, 3])) { error in
            XCTAssertTrue(error.localizedDescription.contains("logits became non-finite"), error.localizedDescription)
        }
    }

    func testSamplingSettingsAreValidated() throws {
        let bad: [(SamplingParameters, String)] = [
            (.init(temperature: -1), "temperature"), (.init(temperature: .nan), "temperature"),
            (.init(topK: -5), "top-k"), (.init(topP: -1), "top-p"), (.init(topP: .nan), "top-p"),
            (.init(repetitionPenalty: 0), "repetition penalty"),
        ]
        for (sampling, word) in bad {
            XCTAssertThrowsError(try GenerationParameters(sampling: sampling).validate()) { error in
                XCTAssertTrue(error.localizedDescription.contains(word), error.localizedDescription)
            }
        }
        XCTAssertThrowsError(try GenerationParameters(maxNewTokens: -1).validate())
        XCTAssertNoThrow(try GenerationParameters(sampling: .init(temperature: 0.7, topK: 40, topP: 0.9)).validate())
        let model = try Self.qwen2()
        XCTAssertThrowsError(try model.generate(promptIds: [1], parameters: .init(sampling: .init(temperature: -1))))
    }
}
