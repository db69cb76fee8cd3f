import Foundation
import Models
import Tokenizers
import Torch
import XCTest

/// SmolLM2-135M-Instruct from its GGUF, end to end: tokenizer and chat template from the metadata, generation,
/// stop strings and streaming.
final class ChatGenerationTests: XCTestCase {
    func testAnswersAChatMLQuestionSensibly() throws {
        guard FileManager.default.fileExists(atPath: SmolLM2Tests.gguf.path) else {
            return XCTFail("\(SmolLM2Tests.gguf.path) is missing: run scripts/fetch-models.sh")
        }
        let lm = try LanguageModel.load(SmolLM2Tests.gguf, dtype: .float32)
        guard case .chatML(let system)? = lm.chatTemplate else { return XCTFail("expected a ChatML template") }
        XCTAssertNotNil(system, "SmolLM2's template has a default system prompt")
        let prompt = lm.chatTemplate!.render([.user("What is the capital of France?")], addGenerationPrompt: true)
        XCTAssertTrue(prompt.hasSuffix("<|im_start|>assistant\n"))
        let ids = lm.tokenizer.encode(prompt, addSpecialTokens: false)
        XCTAssertTrue(lm.stopTokenIds.contains(lm.tokenizer.id(for: "<|im_end|>")!))

        var pieces: [String] = []
        let reply = try lm.generateText(promptIds: ids, parameters: .init(maxNewTokens: 40, stopTokenIds: lm.stopTokenIds)) {
            pieces.append($0)
            return true
        }
        XCTAssertTrue(reply.text.contains("Paris"), "reply: \(reply.text)")
        XCTAssertEqual(reply.generation.finishReason, .stopToken, "the reply should end with <|im_end|>")
        XCTAssertEqual(pieces.joined(), reply.text, "streamed pieces add up to the reply")

        // A stop string cuts the reply before it, and the held-back text is never streamed past it.
        pieces = []
        let cut = try lm.generateText(promptIds: ids, parameters: .init(maxNewTokens: 40), stopStrings: ["Paris"]) {
            pieces.append($0)
            return true
        }
        XCTAssertEqual(cut.stopString, "Paris")
        XCTAssertEqual(cut.generation.finishReason, .stopString)
        XCTAssertFalse(cut.text.contains("Paris"))
        XCTAssertEqual(pieces.joined(), cut.text)
    }
}
