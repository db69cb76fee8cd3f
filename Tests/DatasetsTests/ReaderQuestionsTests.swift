import Foundation
import Tokenizers
import Torch
import XCTest

@testable import Datasets

final class ReaderQuestionsTests: XCTestCase {
    let names = ReaderQuestions.Names(characters: ["Emma", "Knightley", "Harriet"], places: ["Highbury", "London"])

    func questions(_ sentence: String) -> [String: ReaderQuestions.Question] {
        Dictionary(ReaderQuestions.questions(in: sentence, names: names).map { ($0.kind.rawValue + ":" + $0.question, $0) },
                   uniquingKeysWith: { a, _ in a })
    }

    func testACharacterSentenceGivesWhoWhatAndWhere() {
        let found = ReaderQuestions.questions(in: "Mr. Knightley received a long letter from London, and Emma smiled at him.",
                                              names: names)
        XCTAssertEqual(found, [
            .init(kind: .who, question: "Who received a long letter from London?", answer: "Mr. Knightley"),
            .init(kind: .what, question: "What did Mr. Knightley receive?", answer: "a long letter from London"),
            .init(kind: .where, question: "Where did Mr. Knightley receive a long letter?", answer: "London"),
        ])
    }

    func testWhyTakesTheBecauseClause() {
        let found = ReaderQuestions.questions(in: "Emma walked slowly to Highbury with her father because the day was fine.",
                                              names: names)
        XCTAssertTrue(found.contains(.init(kind: .why, question: "Why did Emma walk slowly to Highbury with her father?",
                                           answer: "because the day was fine")), "\(found)")
        XCTAssertTrue(found.contains(.init(kind: .where, question: "Where did Emma walk slowly?", answer: "Highbury")))
        XCTAssertTrue(found.contains { $0.kind == .who && $0.answer == "Emma" })
    }

    func testPronounSubjectsAskOnlyAboutTheObjectWithItsSetting() {
        let found = ReaderQuestions.questions(in: "She found a letter on the table at breakfast.", names: names)
        XCTAssertEqual(found, [.init(kind: .what, question: "What did she find at breakfast?", answer: "a letter on the table")])
        // Without a setting, "What did she find?" could be any sentence of the book.
        XCTAssertEqual(ReaderQuestions.questions(in: "She found a letter on the table, and was glad.", names: names), [])
    }

    func testDialogueAttributionUnknownSubjectsAndAuxiliariesGiveNothing() {
        XCTAssertEqual(ReaderQuestions.questions(in: "\"I shall go,\" Emma said to her father that evening.", names: names), [])
        XCTAssertEqual(ReaderQuestions.questions(in: "Emma said nothing more about the party that evening.", names: names), [])
        XCTAssertEqual(ReaderQuestions.questions(in: "Mr. Elton received a long letter from London that day.", names: names), [],
                       "Elton is not a character of this book's names")
        XCTAssertEqual(ReaderQuestions.questions(in: "This Emma felt was aimed at her and nobody else.", names: names), [],
                       "every word of the subject must be a name")
        let had = ReaderQuestions.questions(in: "Harriet had gone to London with her sister early.", names: names)
        XCTAssertEqual(had.map(\.kind), [.who], "'had gone' asks no 'What did Harriet have'")
    }

    func testWhoWasGivesTheDescription() {
        let found = ReaderQuestions.questions(in: "Harriet was a very pretty girl of seventeen, and quite artless.", names: names)
        XCTAssertTrue(found.contains(.init(kind: .what, question: "Who was Harriet?", answer: "a very pretty girl of seventeen")))
        XCTAssertFalse(ReaderQuestions.questions(in: "Harriet was a good deal surprised by the news of it.", names: names)
            .contains { $0.question == "Who was Harriet?" })
    }

    func testNamesAreRecurringMidSentenceCapitalsSplitIntoCharactersAndPlaces() {
        let para = "Then came Emma and she talked. They went to Highbury again. The letter was for Emma today. "
        let text = String(repeating: para, count: 8) + "Where is the highway? Nothing here."
        let found = ReaderQuestions.names(in: text)
        XCTAssertEqual(found.characters, ["Emma"])
        XCTAssertEqual(found.places, ["Highbury"])
        XCTAssertTrue(ReaderQuestions.names(in: text, minimumCount: 20).characters.isEmpty, "8 + 8 sightings only")
        let lowered = text + " the emma of it"
        XCTAssertFalse(ReaderQuestions.names(in: lowered).characters.contains("Emma"), "a word also written in lower case")
    }

    func testSentencesDoNotEndAfterTitles() {
        XCTAssertEqual(ReaderQuestions.sentences(of: "Mr. Knightley came in. Emma rose; she smiled! Was it so?"),
                       ["Mr. Knightley came in.", "Emma rose;", "she smiled!", "Was it so?"])
    }

    /// A made-up book: every example's answer is a span of one of its passages, answerable ones keep it, the
    /// others answer that the text does not say, and the run is a function of the seed.
    func testExamplesCarryTheirAnswersPassageAndAreSeeded() throws {
        var paragraphs: [String] = []
        for i in 0..<60 {
            let who = ["Emma", "Harriet", "Knightley"][i % 3]
            paragraphs.append("The morning of day \(i) was grey over the village. \(who) received a small parcel from "
                + "Highbury, and the servants carried it in. Then came Emma to the door and looked at Harriet. Everyone "
                + "spoke of Knightley and walked to Highbury for an hour, and nobody minded the rain outside the windows.")
        }
        let book = paragraphs.joined(separator: "\n\n")
        var options = ReaderQuestions.Options()
        options.limit = 40
        options.passageWords = 50
        options.unanswerableFraction = 0.25
        options.seed = 3
        options.renameCharacters = false  // (renaming has its own test) so passages can be found in the book
        let examples = ReaderQuestions.examples(document: book, options: options)
        // Each kind is capped at its share of the limit (who 14, what 12, where 6, why 8); this book has no "because".
        XCTAssertEqual(examples.filter { $0.kind == .who }.count, 14)
        XCTAssertEqual(examples.filter { $0.kind == .what }.count, 12)
        XCTAssertEqual(examples.filter { $0.kind == .where }.count, 6)
        XCTAssertEqual(examples.count, 32)
        let unanswerable = examples.filter { $0.answer == ReaderQuestions.notInEvidence }
        XCTAssertTrue((3...18).contains(unanswerable.count), "about a quarter: \(unanswerable.count)")
        let passages = ReaderQuestions.passages(of: book, words: 50)
        for e in examples {
            XCTAssertTrue((3...5).contains(e.passages.count), "\(e.passages.count) passages")
            let order = e.passages.map { p in passages.firstIndex(of: p)! }
            XCTAssertEqual(order, order.sorted(), "book order")
            if e.answer != ReaderQuestions.notInEvidence {
                XCTAssertTrue(e.passages.contains { $0.contains(e.answer) }, "\(e.answer) in its evidence")
            }
        }
        XCTAssertEqual(ReaderQuestions.examples(document: book, options: options), examples)
        options.seed = 4
        XCTAssertNotEqual(ReaderQuestions.examples(document: book, options: options), examples)
    }

    func testRenamingIsConsistentWithinAnExampleAndLeavesOtherWordsAlone() {
        let example = ReaderQuestions.Example(
            kind: .who, question: "Who met Harriet at Highbury?", answer: "Emma",
            passages: ["Emma met Harriet at Highbury; Emma's gloves were wet.", "Emmanuel and Harriet's aunt walked."])
        var rng = SplitMix64(seed: 1)
        let renamed = ReaderQuestions.renamed(example, characters: ["Emma", "Harriet", "Knightley"], rng: &rng)
        let emma = renamed.answer
        XCTAssertTrue(ReaderQuestions.stockNames.contains(emma))
        let harriet = String(renamed.question.dropFirst("Who met ".count).prefix { $0.isLetter })
        XCTAssertNotEqual(harriet, emma)
        XCTAssertEqual(renamed.question, "Who met \(harriet) at Highbury?")
        XCTAssertEqual(renamed.passages, ["\(emma) met \(harriet) at Highbury; \(emma)'s gloves were wet.",
                                          "Emmanuel and \(harriet)'s aunt walked."], "whole words only, places kept")
        XCTAssertEqual(ReaderQuestions.replacingWords(in: "Emma", ["Emma": "Ada"]), "Ada")
    }

    func testJSONLineIsTheGeneratorsAnsweringPromptWithoutMemory() throws {
        let prompts = try PromptSet.builtIn("en")
        let example = ReaderQuestions.Example(kind: .who, question: "Who came?", answer: "Emma", passages: ["One.", "Two."])
        let line = try ReaderQuestions.jsonLine(example, source: "book.txt", prompts: prompts)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["memory_turns"] as? Int, 0)
        XCTAssertEqual(object["task"] as? String, "answer")
        let turns = try XCTUnwrap(object["conversations"] as? [[String: String]])
        XCTAssertEqual(turns.map { $0["role"] }, ["user", "assistant"])
        XCTAssertEqual(turns[0]["content"], prompts.qaGeneration.filling(["context": "One.\n\nTwo.", "input": "Who came?"]))
        XCTAssertEqual(turns[1]["content"], "Emma")
    }
}
