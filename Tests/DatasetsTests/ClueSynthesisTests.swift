import Foundation
import Models
import TestSupport
import Tokenizers
import XCTest

@testable import Datasets

final class ClueSynthesisTests: XCTestCase {
    let document = """
        The lighthouse keeper rowed to the mainland every Tuesday to buy oil, bread and newspapers for the week.

        Short line.

        In the winter of the great storm the lamp failed for three nights, and two ships ran aground on the reef.

        The lighthouse keeper rowed to the mainland every Tuesday to buy oil, bread and newspapers for the week.

        His daughter kept a logbook of every ship that passed, noting its flag, its cargo and the hour it was seen.
        """

    var options: ClueSynthesis.Options {
        var o = ClueSynthesis.Options()
        o.minPassageCharacters = 60
        o.passagesPerDocument = 10
        o.seed = 5
        return o
    }

    func testPassagesAreSeededDistinctAndBounded() {
        let a = ClueSynthesis.passages(in: document, options: options)
        XCTAssertEqual(a.count, 3, "three distinct paragraphs of 60–700 characters")
        XCTAssertEqual(Set(a).count, 3)
        XCTAssertEqual(ClueSynthesis.passages(in: document, options: options), a)
        for p in a { XCTAssertTrue(document.contains(p)) }
    }

    func testContextsCutAtParagraphsWithinTheLimitAndSampleInOrder() {
        let words = { (s: String) in s.split { $0.isWhitespace }.count }
        let contexts = ClueSynthesis.contexts(of: document, maxTokens: 40, tokenCount: words)
        XCTAssertEqual(contexts.count, 4, "paragraphs of 18, 2, 21, 18, 21 words (+1 each) packed under 40: 1+2 | 3 | 4 | 5")
        for c in contexts { XCTAssertTrue(document.contains(c)) }
        XCTAssertEqual(contexts.joined(separator: "\n\n"), document, "nothing is lost or reordered")
        XCTAssertTrue(contexts.dropLast().allSatisfy { words($0) + $0.components(separatedBy: "\n\n").count <= 40 })
        XCTAssertEqual(ClueSynthesis.contexts(of: document, maxTokens: 10, tokenCount: words).count, 5,
                       "a paragraph over the limit is a context of its own")
        let picked = ClueSynthesis.sample(contexts, count: 2, seed: 3)
        XCTAssertEqual(picked.count, 2)
        XCTAssertEqual(picked, ClueSynthesis.sample(contexts, count: 2, seed: 3))
        XCTAssertEqual(picked, contexts.filter(picked.contains), "kept in document order")
        XCTAssertEqual(ClueSynthesis.sample(contexts, count: 9, seed: 3), contexts)
    }

    func testFiltering() throws {
        XCTAssertEqual(ClueSynthesis.cleanQuestion("Question: \"How often did the keeper row ashore?\"\nMore text"),
                       "How often did the keeper row ashore?")
        XCTAssertNil(ClueSynthesis.cleanQuestion("The keeper rowed ashore."))
        var filter = ClueSynthesis.Filter(options: options)
        let clue = "His daughter kept a logbook of every ship that passed, noting its flag, its cargo and the hour it was seen."
        XCTAssertEqual(filter.admit(question: "Who kept logs?", clue: clue, document: document), .questionLength)
        XCTAssertEqual(filter.admit(question: "What did the daughter record about ships?", clue: "a paraphrase of the logbook",
                                    document: document), .clueNotInDocument)
        XCTAssertNil(filter.admit(question: "What did the daughter record about ships?", clue: clue, document: document))
        XCTAssertEqual(filter.admit(question: "what did the  daughter record about ships?", clue: "Short line.",
                                    document: document), .duplicateQuestion)
        XCTAssertEqual(filter.admit(question: "Which details of ships were noted down?", clue: clue, document: document),
                       .duplicateClue)
        XCTAssertEqual(filter.admit(question: "His daughter kept a logbook of every ship that passed, noting its flag?",
                                    clue: clue, document: document), .questionCopiesClue)
        XCTAssertEqual(filter.admit(question: "What is the passage about, in a few words?", clue: "Short line.",
                                    document: document), .metaQuestion)
        let storm = "In the winter of the great storm the lamp failed for three nights, and two ships ran aground on the reef."
        XCTAssertEqual(filter.admit(question: "Who wrote the famous novel in question?", clue: storm, document: document),
                       .ungrounded)
        XCTAssertEqual(filter.admit(question: "How many loaves did the storm bake every morning?", clue: storm,
                                    document: document), .ungrounded, "a copy of the worked example")
        XCTAssertEqual(filter.admit(question: "Why did the miller's wife see the ships run aground?", clue: storm,
                                    document: document), .ungrounded, "the worked example's subject grafted on")
        XCTAssertEqual(ClueSynthesis.templateVagueQuestion(from: "What is the name of the Mouse's sister?"),
                       "What happens with the Mouse?")
        XCTAssertEqual(ClueSynthesis.templateVagueQuestion(from: "Why did Alice cry?"), "What happens with Alice?")
        XCTAssertNil(ClueSynthesis.templateVagueQuestion(from: "Why did two ships run aground?"))
        XCTAssertEqual(ClueSynthesis.keySentence(of: "The sky was grey. Two ships ran aground on the reef. Nobody came.",
                                                 question: "How many ships ran aground?"),
                       "Two ships ran aground on the reef.")
    }

    /// The stricter filters on hand-made questions: each is rejected for the one reason it was made to show.
    func testStricterFilters() throws {
        let document = """
            The lighthouse keeper rowed to the mainland every Tuesday to buy oil, bread and newspapers for the week.

            Marta Vell kept the lighthouse on Gull Rock for thirty-one years. She climbed the hundred steps each evening.

            His daughter kept a logbook of every ship that passed, noting its flag, its cargo and the hour it was seen.
            """
        let keeper = "The lighthouse keeper rowed to the mainland every Tuesday to buy oil, bread and newspapers for the week."
        let marta = "Marta Vell kept the lighthouse on Gull Rock for thirty-one years. She climbed the hundred steps each evening."
        let logbook = "His daughter kept a logbook of every ship that passed, noting its flag, its cargo and the hour it was seen."
        var filter = ClueSynthesis.Filter(options: options)
        XCTAssertEqual(filter.admit(question: "Did the keeper's daughter keep a logbook of ships?", clue: logbook,
                                    document: document), .yesNoQuestion)
        XCTAssertEqual(filter.admit(question: "Who rowed to the mainland every Tuesday to buy oil and bread?", clue: keeper,
                                    document: document), .copiedFromPassage, "rowed, mainland, tuesday of 4: one run")
        XCTAssertEqual(filter.admit(question: "What was Marta's favourite colour as a child?", clue: marta,
                                    document: document), .answerNotInPassage, "only the name is in the passage")
        XCTAssertEqual(filter.admit(question: "What happens with Marta Vell?", clue: marta, document: document),
                       .answerNotInPassage, "nothing but names to find the answer by")
        XCTAssertNil(filter.admit(question: "On which weekday did the keeper go ashore for supplies?", clue: keeper,
                                  document: document))
        XCTAssertNil(filter.admit(question: "How many steps did Marta climb every evening?", clue: marta, document: document))
        XCTAssertNil(filter.admit(question: "What did the daughter record about every passing ship?", clue: logbook,
                                  document: document))
        XCTAssertEqual(filter.admit(question: "What did the daughter record about each passing ship?", clue: keeper,
                                    document: document), .nearDuplicateQuestion, "Jaccard 8/10 with the one before")

        XCTAssertTrue(ClueSynthesis.isYesNo("Was Alice afraid of the Queen?"))
        XCTAssertTrue(ClueSynthesis.isYesNo("Doesn't the Hatter sing?"))
        XCTAssertFalse(ClueSynthesis.isYesNo("Why was Alice afraid of the Queen?"))
        let copied = ClueSynthesis.copiedRun(question: "Why did the keeper row to the mainland every Tuesday?",
                                             passage: keeper)
        XCTAssertEqual(copied.words, 2, "'to the mainland every tuesday': mainland and tuesday ('row' is not 'rowed')")
        XCTAssertEqual(copied.fraction, 2.0 / 3, accuracy: 1e-12, "of keeper, mainland, tuesday")
        XCTAssertEqual(ClueSynthesis.askedWords("What did Marta Vell keep on Gull Rock?"), ["keep"])
        XCTAssertEqual(ClueSynthesis.jaccard(["a", "b"], ["a", "c"]), 1.0 / 3)
    }

    /// A scripted model: answers are fixed per passage, so every filter path is taken on purpose.
    func testSynthesizeWithScriptedModel() throws {
        var asked: [String] = []
        var events: [ClueSynthesis.Progress] = []
        let examples = try ClueSynthesis.synthesize(document: document, source: "doc.txt", options: options) { messages, _ in
            let text = messages.last!.content
            XCTAssertEqual(messages.count, 3, "each request carries one worked example")
            asked.append(text)
            if text.hasPrefix("Rewrite") { return text.contains("logbook") ? "What was written down there?" : "Not a question" }
            if text.contains("logbook") { return "What did the keeper's daughter write in her logbook?" }
            if text.contains("storm") { return "Why did two ships run aground in the winter storm?" }
            return "Oil and bread."
        } progress: { events.append($0) }
        XCTAssertEqual(examples.count, 2)
        XCTAssertEqual(events.filter { if case .rejected(.notAQuestion, _) = $0 { return true } else { return false } }.count, 1)
        let logbook = try XCTUnwrap(examples.first { $0.clue.contains("logbook") })
        XCTAssertEqual(logbook.vagueQuestion, "What was written down there?")
        XCTAssertNil(examples.first { $0.clue.contains("storm") }?.vagueQuestion,
                     "an unusable vague question is dropped (and this question names nothing for the template)")
        for e in examples { XCTAssertTrue(document.contains(e.clue)); XCTAssertTrue(e.clue.contains(e.keySentence)) }
        let lines = try ClueSynthesis.jsonLines(examples: examples, document: document, source: "doc.txt",
                                                prompts: try PromptSet.builtIn("en"))
        XCTAssertEqual(lines.count, 1 + 2 * 2 + 1)  // context, recall+answer per example, one rewrite
        XCTAssertThrowsError(try ClueSynthesis.synthesize(
            document: "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be",
            source: "p.txt", options: options) { _, _ in "?" })
    }

    /// End to end with a tiny random decoder (the llama fixture of ModelsTests) and a tokenizer trained here: the
    /// replies are noise, so this checks that generation is wired in and that whatever is kept passes the filters.
    func testSynthesizeWithTinyRandomModel() throws {
        let dir = try temporaryDirectory("tinylm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let llama = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/decoders/llama")
        for f in ["config.json", "model.safetensors", "generation_config.json"] {
            try FileManager.default.copyItem(at: llama.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        try writeTinyTokenizer(to: dir, texts: document.split(separator: "\n").map(String.init) + ["What? Why? Who?"])
        let lm = try LanguageModel.load(dir)
        let template = try XCTUnwrap(lm.chatTemplate)
        var replies: [String] = []
        var filter = ClueSynthesis.Filter(options: options)
        let examples = try ClueSynthesis.synthesize(document: document, source: "doc.txt", options: options) { messages, i in
            let ids = lm.tokenizer.encode(template.render(messages, addGenerationPrompt: true), addSpecialTokens: false)
            let parameters = GenerationParameters(maxNewTokens: 12, sampling: SamplingParameters(temperature: 1, seed: UInt64(i)),
                                                  stopTokenIds: lm.stopTokenIds)
            let reply = try lm.generateText(promptIds: ids, parameters: parameters, stopStrings: ["\n"]).text
            replies.append(reply)
            return reply
        }
        XCTAssertGreaterThanOrEqual(replies.count, 3, "one question request per passage")
        for e in examples {
            XCTAssertTrue(document.contains(e.clue))
            XCTAssertNil(filter.admit(question: e.question, clue: e.clue, document: document), "kept examples pass the filters")
        }
    }
}
