import Foundation
import TestSupport
import XCTest

@testable import Tokenizers

final class PromptSetTests: XCTestCase {
    func testBuiltInSetsCarryTheReferenceTexts() throws {
        let en = try PromptSet.builtIn("en")
        XCTAssertEqual(en.memoryReply, "I have read the article. Please provide your question.")
        XCTAssertEqual(en.qaGeneration, "Read the text below and answer a question.\n\n{context}\n\nQuestion: {input}\n\nBe concise.")
        let zh = try PromptSet.builtIn("zh")
        XCTAssertEqual(zh.memoryReply, "我已经读完文本，请提出你的问题。")
        XCTAssertThrowsError(try PromptSet.builtIn("fr"))
    }

    func testFillingLeavesBracesInsideValuesAlone() {
        let template = "Q: {input}\nC: {context} {unknown}"
        XCTAssertEqual(template.filling(["input": "what is {context}?", "context": "text with {input}"]),
                       "Q: what is {context}?\nC: text with {input} {unknown}")
    }

    func testLanguageGuess() {
        XCTAssertEqual(PromptSet.languageGuess(for: "Alice was beginning to get very tired"), "en")
        XCTAssertEqual(PromptSet.languageGuess(for: "我家门前有两株树，一株是枣树，还有一株也是枣树。"), "zh")
    }

    func testOverrideFileIsValidated() throws {
        let dir = try temporaryDirectory()
        var prompts = try PromptSet.builtIn("en")
        prompts.recall = "Find spans for {question}"
        let good = dir.appendingPathComponent("good.json")
        try JSONEncoder().encode(prompts).write(to: good)
        XCTAssertEqual(try PromptSet.load(good).recall, "Find spans for {question}")

        prompts.qaGeneration = "no placeholders"
        let bad = dir.appendingPathComponent("bad.json")
        try JSONEncoder().encode(prompts).write(to: bad)
        XCTAssertThrowsError(try PromptSet.load(bad)) { error in
            XCTAssertTrue(error.localizedDescription.contains("qa_generation"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("bad.json"), error.localizedDescription)
        }
        let notJSON = dir.appendingPathComponent("x.json")
        try Data("{".utf8).write(to: notJSON)
        XCTAssertThrowsError(try PromptSet.load(notJSON))
    }
}
