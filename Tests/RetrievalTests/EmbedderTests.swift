import Foundation
import Retrieval
import TestSupport
import XCTest

final class EmbedderTests: XCTestCase {
    private static let texts = [
        "Alice was beginning to get very tired of sitting by her sister on the bank.",
        "Down the rabbit hole.",
        "She ate a little bit, and said anxiously to herself, 'Which way? Which way?', holding her hand on the top of her head to feel which way it was growing.",
        "Curiouser and curiouser!",
        "The Mock Turtle's story.",
        "爱丽丝坐在河边，觉得非常无聊。",
        "Who stole the tarts?",
        "The Queen of Hearts, she made some tarts, all on a summer day: the Knave of Hearts, he stole those tarts, and took them quite away!",
        "x",
        "Off with her head!",
    ]

    private static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let dot = zip(a, b).map { Double($0) * Double($1) }.reduce(0, +)
        let norms = (a.map { Double($0 * $0) }.reduce(0, +) * b.map { Double($0 * $0) }.reduce(0, +)).squareRoot()
        return dot / norms
    }

    /// Sorting by length, batching and padding do not change the vectors (batches of one run the encoder on the
    /// padded layout, larger ones on packed real tokens), and they come back in the caller's order.
    func testBatchedEqualsUnbatched() throws {
        let directory = try Paths.requireMiniLM()
        let batched = try Embedder(directory: directory, batchSize: 4)
        let single = try Embedder(directory: directory, batchSize: 1)
        XCTAssertEqual(batched.dimension, 384)
        var reports: [EmbeddingProgress] = []
        let many = try batched.embed(Self.texts) { reports.append($0) }
        XCTAssertEqual(reports.map(\.done), [4, 8, 10])
        XCTAssertTrue(reports.allSatisfy { $0.total == Self.texts.count })
        let one = try single.embed(Self.texts)
        XCTAssertEqual(many.count, Self.texts.count)
        for (i, (a, b)) in zip(many, one).enumerated() {
            XCTAssertEqual(a.count, 384)
            XCTAssertEqual(a.map { Double($0 * $0) }.reduce(0, +), 1, accuracy: 1e-4, "unit length")
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 2e-5, "text \(i)") }
        }
        // Each vector belongs to its own text: reversing the input reverses the output.
        let reversed = try batched.embed(Self.texts.reversed())
        for (a, b) in zip(reversed, many.reversed()) { XCTAssertGreaterThan(Self.cosine(a, b), 0.99999) }
        XCTAssertEqual(try batched.embed([]), [])
    }

    /// The fingerprint is stable for one model and changes when what decides the vectors changes.
    func testFingerprint() throws {
        let directory = try Paths.requireMiniLM()
        let fingerprint = try Embedder.fingerprint(directory: directory)
        XCTAssertEqual(fingerprint.count, 64)
        XCTAssertEqual(try Embedder.fingerprint(directory: directory), fingerprint)

        let copy = try temporaryDirectory("memorag-embedder")
        defer { try? FileManager.default.removeItem(at: copy) }
        let manager = FileManager.default
        for name in try manager.contentsOfDirectory(atPath: directory.path) {
            try manager.createSymbolicLink(at: copy.appendingPathComponent(name), withDestinationURL: directory.appendingPathComponent(name))
        }
        XCTAssertEqual(try Embedder.fingerprint(directory: copy), fingerprint, "the location does not matter")
        let config = copy.appendingPathComponent("config.json")
        let original = try Data(contentsOf: config)
        try manager.removeItem(at: config)
        try (original + Data(" ".utf8)).write(to: config)
        XCTAssertNotEqual(try Embedder.fingerprint(directory: copy), fingerprint)

        XCTAssertThrowsError(try Embedder(directory: copy.appendingPathComponent("absent")))
    }

    /// Retrieval end to end: each question finds the passage that answers it.
    func testQuestionsFindTheirPassages() throws {
        let embedder = try Embedder(directory: try Paths.requireMiniLM())
        let passages = [
            "The Cheshire Cat grinned from ear to ear and slowly vanished, beginning with the end of the tail.",
            "The Mad Hatter and the March Hare were having tea under a tree, with the Dormouse asleep between them.",
            "The Queen of Hearts played croquet with flamingos as mallets and hedgehogs as balls.",
            "Alice drank from a bottle labelled DRINK ME and shrank to ten inches high.",
        ]
        let index = try VectorIndex(dimension: embedder.dimension)
        try index.add(try embedder.embed(passages))
        let questions = ["Which animals were used in the croquet game?", "Who was asleep at the tea party?",
                         "What made Alice become small?", "Which cat disappeared leaving only its smile?"]
        let hits = try index.search(try embedder.embed(questions), k: 1)
        XCTAssertEqual(hits.map { $0[0].id }, [2, 1, 3, 0])
    }
}
