import Foundation
@testable import MemoRAG
import XCTest

final class EvaluationTests: XCTestCase {
    private let quote = "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife."

    private func evidence(_ text: String) -> Evidence {
        Evidence(chunkId: 0, document: "book", start: 0, end: text.unicodeScalars.count, score: 1, text: text)
    }

    func testEvidenceRecallFindsWholeAndSplitQuotesButNotScatteredWords() {
        XCTAssertEqual(EvidenceRecall.recall(gold: [quote], found: [evidence("Chapter 1\n\nIT IS a truth  universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. More text.")]), 1)
        // A passage boundary after "fortune,": the first half of the quote ends one passage.
        XCTAssertEqual(EvidenceRecall.recall(gold: [quote], found: [evidence("Some earlier words. It is a truth universally acknowledged, that a single man in possession of a good fortune,")]), 1)
        // Every word of the quote, but scattered through an unrelated passage: not found.
        let scattered = "A wife must be good, in truth; a man is single in want. That fortune of possession is universally acknowledged, it seems, by all."
        XCTAssertEqual(EvidenceRecall.recall(gold: [quote], found: [evidence(scattered)]), 0)
        XCTAssertEqual(EvidenceRecall.recall(gold: [quote, "Mr. Bennet was among the earliest"], found: [evidence(quote)]), 0.5)
        XCTAssertEqual(EvidenceRecall.longestCommonRun(["a", "b", "c", "d"], ["x", "b", "c", "y", "a"]), 2)
    }

    func testQuestionsFileErrorsNameTheFileAndLine() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("questions-\(getpid()).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data((#"{"question": "Who?", "answers": ["A"], "evidence": ["x y"], "type": "single"}"# + "\n\n{\"question\": 3}\n").utf8)
            .write(to: url)
        XCTAssertThrowsError(try EvalQuestion.read(url)) { error in
            XCTAssertTrue("\(error.localizedDescription)".contains("\(url.path):3"), "\(error.localizedDescription)")
        }
        try Data(#"{"question": "Who?", "answer": "A"}"#.utf8).write(to: url)
        let questions = try EvalQuestion.read(url)
        XCTAssertEqual(questions.map(\.id), ["1"])
        XCTAssertEqual(questions[0].references, ["A"])
    }

    /// The shipped Alice sets are what tuning decisions rest on: every evidence quote must be the book's own text
    /// (whitespace aside), and the paraphrased set must keep its contract of naming no one it asks about.
    func testShippedAliceSetsQuoteTheBookVerbatim() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples")
        func collapsed(_ text: String) -> String {
            text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        }
        let book = collapsed(try String(contentsOf: examples.appendingPathComponent("alice.txt"), encoding: .utf8))
        for (file, count) in [("alice-questions.jsonl", 24), ("alice-paraphrased-questions.jsonl", 40)] {
            let questions = try EvalQuestion.read(examples.appendingPathComponent(file))
            XCTAssertEqual(questions.count, count, file)
            XCTAssertEqual(Set(questions.compactMap(\.id)).count, count, "\(file): ids are unique")
            for question in questions {
                let quotes = question.evidence ?? []
                XCTAssertFalse(quotes.isEmpty, "\(file) \(question.id ?? "?"): no evidence")
                for quote in quotes {
                    XCTAssertTrue(book.contains(collapsed(quote)), "\(file) \(question.id ?? "?"): not in the book: \(quote)")
                }
            }
        }
        let names = ["alice", "rabbit", "hatter", "cheshire", "dormouse", "caterpillar", "duchess", "queen", "mock turtle",
                     "gryphon", "dodo", "knave"]
        for question in try EvalQuestion.read(examples.appendingPathComponent("alice-paraphrased-questions.jsonl")) {
            let lowered = question.question.lowercased()
            XCTAssertNil(names.first { lowered.contains($0) }, "\(question.id ?? "?") names its subject: \(question.question)")
        }
    }

    /// Two questions by hand: the summary's means per variant and type, its curves and the latency quantiles.
    func testSummaryMeansPerVariantAndType() throws {
        func row(_ type: String, f1Answer: String, pipeline: Double, query: Double, spans: Double?, seconds: Double) -> EvalRow {
            var timings = AskTimings()
            timings.total = seconds
            let passage = Evidence(chunkId: 0, document: "d", start: 0, end: 10, score: 1, text: "a red fox ran")
            let result = AskResult(query: "q", task: .memorag, answer: f1Answer, clues: [],
                                   evidence: type == "single" ? [passage] : [], droppedEvidence: 0, timings: timings)
            var recall: [RetrievalComparison.Variant: Double] = [.pipeline: pipeline, .query: query, .queryDense: query]
            recall[.spans] = spans
            let curve = RetrievalComparison.depths.map { _ in pipeline }
            return EvalRow(question: EvalQuestion(id: type, type: type, question: "q", answers: ["red fox"]),
                           result: result,
                           retrieval: RetrievalComparison(passages: 4, recall: recall, curves: [.pipeline: curve]))
        }
        let summary = EvalSummary(rows: [row("single", f1Answer: "red fox", pipeline: 1, query: 0.5, spans: 1, seconds: 2),
                                         row("global", f1Answer: "blue", pipeline: 0, query: 0.5, spans: nil, seconds: 4)],
                                  settings: "test")
        XCTAssertEqual(summary.all.questions, 2)
        XCTAssertEqual(summary.all.f1, 0.5, accuracy: 1e-9)
        XCTAssertEqual(summary.byType["single"]!.f1Ceiling, 1, accuracy: 1e-9, "'red fox' is in its passage")
        XCTAssertEqual(summary.all.f1Ceiling, 0.5, accuracy: 1e-9, "no evidence, no ceiling")
        XCTAssertEqual(summary.all.recall["pipeline"]!, 0.5, accuracy: 1e-9)
        XCTAssertEqual(summary.all.recall["spans"]!, 0.5, accuracy: 1e-9, "a question without span clues counts 0")
        XCTAssertEqual(summary.byType["single"]!.recall["query"]!, 0.5, accuracy: 1e-9)
        XCTAssertEqual(summary.byType["global"]!.f1, 0, accuracy: 1e-9)
        XCTAssertEqual(summary.curves["pipeline"]!, RetrievalComparison.depths.map { _ in 0.5 })
        XCTAssertNil(summary.curves["surrogates"], "no question had surrogate clues")
        XCTAssertNil(summary.all.recall["answers"])
        XCTAssertTrue(summary.table.contains("| – |"), summary.table)
        XCTAssertEqual(summary.latency["ask_p50"]!, 4, "upper median of two")
        XCTAssertTrue(summary.table.contains("| single | 1 | 1.000 | 1.000 | 1.000 |"), summary.table)
        // Pipeline − question alone: +0.5 on one question, −0.5 on the other.
        let gap = try XCTUnwrap(summary.gaps["query"])
        XCTAssertEqual(gap.mean, 0, accuracy: 1e-9)
        XCTAssertEqual([gap.better, gap.worse, gap.questions], [1, 1, 2])
        XCTAssertTrue(summary.table.contains("pipeline − query (recall, 95% paired bootstrap): +0.000 [-0.500, +0.500]"), summary.table)
    }

    /// The bootstrap interval, on cases worked by hand: equal differences leave no doubt; with two values the
    /// resampled means can only be their mean or either value, so the 95% interval spans both; the draws repeat.
    func testPairedDifferenceIntervals() {
        let same = PairedDifference([0.25, 0.25, 0.25])
        XCTAssertEqual([same.mean, same.low, same.high], [0.25, 0.25, 0.25])
        XCTAssertEqual([same.better, same.worse], [3, 0])
        let two = PairedDifference([0, 1])
        XCTAssertEqual(two.mean, 0.5)
        XCTAssertEqual([two.low, two.high], [0, 1])
        let mixed = [0.1, -0.2, 0.0, 0.3, 0.5, -0.1, 0.0, 0.2]
        let a = PairedDifference(mixed), b = PairedDifference(mixed)
        XCTAssertEqual(a, b)
        XCTAssertLessThan(a.low, a.mean)
        XCTAssertGreaterThan(a.high, a.mean)
        XCTAssertGreaterThanOrEqual(a.low, -0.2)
        XCTAssertLessThanOrEqual(a.high, 0.5)
        XCTAssertEqual([a.better, a.worse, a.questions], [4, 2, 8])
        XCTAssertEqual(PairedDifference([]).questions, 0)
    }
}
