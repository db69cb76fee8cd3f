import Foundation
import TestSupport
import Tokenizers
import Torch
import XCTest

@testable import Datasets

/// Questions and their evidence read back out of clue data, as the clue-feedback stage reads them.
final class ClueQuestionsTests: XCTestCase {
    let document = """
        The lighthouse keeper rowed to the mainland every Tuesday to buy oil, bread and newspapers for the week.

        In the winter of the great storm the lamp failed for three nights, and two ships ran aground on the reef.
        """
    let lamp = "In the winter of the great storm the lamp failed for three nights, and two ships ran aground on the reef."

    func testTaskTurnsGiveBackTheirQuestion() throws {
        let prompts = try PromptSet.builtIn("en")
        for task in [ClueTask.recall, .rewrite, .answer] {
            let turn = try XCTUnwrap(prompts.taskPrompt(task, question: "Why did {the} ships run aground?"))
            XCTAssertEqual(prompts.question(inTaskTurn: turn, task: task), "Why did {the} ships run aground?")
        }
        // Another task's template, or text that is no template, gives nothing back.
        let recallTurn = try XCTUnwrap(prompts.taskPrompt(.recall, question: "Who rowed?"))
        XCTAssertNil(prompts.question(inTaskTurn: recallTurn, task: .rewrite))
        XCTAssertNil(prompts.question(inTaskTurn: "Who rowed?", task: .recall))
        XCTAssertNil(prompts.question(inTaskTurn: try XCTUnwrap(prompts.taskPrompt(.recall, question: "")), task: .recall))
    }

    func testRecallAndRewriteExamplesGiveQuestionsWithTheirPassage() throws {
        let prompts = try PromptSet.builtIn("en")
        let examples = [
            ClueSynthesis.Example(question: "Why did two ships run aground on the reef?", vagueQuestion: "What happened to the ships?",
                                  clue: lamp, keySentence: lamp),
            // Written by hand: its clue is not in the document, so it names no evidence.
            ClueSynthesis.Example(question: "What did the keeper's daughter write?", vagueQuestion: nil,
                                  clue: "She kept a logbook.", keySentence: "She kept a logbook."),
        ]
        var lines = try ClueSynthesis.jsonLines(examples: examples, document: document, source: "keeper.txt", prompts: prompts)
        // A repeated question is read once.
        lines.append(try ClueSynthesis.exampleLine(task: .recall, question: "Why did two ships run aground on the reef?",
                                                   target: lamp, document: document, source: "keeper.txt", prompts: prompts))
        let dir = try temporaryDirectory("clue-questions")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("clues.jsonl")
        try Data(lines.joined(separator: "\n").utf8).write(to: file)

        let set = try ClueQuestionSet.read(file, prompts: prompts)
        let id = SHA256.hex(document)
        XCTAssertEqual(set.documents[id]?.text, document)
        XCTAssertEqual(set.documents[id]?.source, "keeper.txt")
        XCTAssertEqual(set.questions, [
            ClueQuestion(contextID: id, question: "Why did two ships run aground on the reef?", evidence: lamp, vague: false),
            ClueQuestion(contextID: id, question: "What happened to the ships?", evidence: lamp, vague: true),
        ])
        XCTAssertEqual(set.skipped, 1, "the hand-written recall example's clue is not in the document")
    }

    func testForeignPromptsAndEvaluationBooksAreRefused() throws {
        let prompts = try PromptSet.builtIn("en")
        var other = prompts
        other.recall = "Find text about: {question}"
        let example = ClueSynthesis.Example(question: "Why did two ships run aground on the reef?", vagueQuestion: nil,
                                            clue: lamp, keySentence: lamp)
        let dir = try temporaryDirectory("clue-questions-refused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("clues.jsonl")
        try Data(try ClueSynthesis.jsonLines(examples: [example], document: document, source: "keeper.txt", prompts: other)
            .joined(separator: "\n").utf8).write(to: file)
        XCTAssertThrowsError(try ClueQuestionSet.read(file, prompts: prompts)) { error in
            XCTAssertTrue("\(error.localizedDescription)".contains("not the prompt set's template"), "\(error)")
        }
        let austen = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife."
        try Data(try ClueSynthesis.contextLine(document: austen, source: "book.txt").utf8).write(to: file)
        XCTAssertThrowsError(try ClueQuestionSet.read(file, prompts: prompts))
    }
}
