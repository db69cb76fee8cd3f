import Foundation
import TestSupport
import Models
import Torch
import XCTest

/// all-MiniLM-L6-v2 from its PyPI package against sentence-transformers (Fixtures/minilm/make_minilm_fixtures.py).
final class SentenceEmbedderTests: XCTestCase {
    struct Expected: Decodable {
        var sentences: [String]
        var input_ids: [[Int]]
        var embeddings: [[Float]]
    }

    static var modelDirectory: URL { InstalledModels.miniLM }

    func testEmbeddingsMatchSentenceTransformers() throws {
        let dir = Self.modelDirectory
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else {
            return XCTFail("all-MiniLM-L6-v2 is not installed at \(dir.path): run scripts/fetch-models.sh")
        }
        let fixture = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
            .appendingPathComponent("minilm/expected.json")
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixture))
        let embedder = try SentenceEmbedder(directory: dir)
        XCTAssertEqual(embedder.pooling, .mean)
        XCTAssertTrue(embedder.normalize)
        XCTAssertEqual(embedder.maxSequenceLength, 256)
        XCTAssertEqual(embedder.dimension, 384)
        let ours = try embedder.embed(ids: expected.input_ids, batchSize: 7)
        XCTAssertEqual(ours.count, expected.embeddings.count)
        for (i, (a, b)) in zip(ours, expected.embeddings).enumerated() {
            let dot = zip(a, b).map { Double($0) * Double($1) }.reduce(0, +)
            let norms = (a.map { Double($0 * $0) }.reduce(0, +) * b.map { Double($0 * $0) }.reduce(0, +)).squareRoot()
            XCTAssertGreaterThanOrEqual(dot / norms, 0.9999, "sentence \(i): \(expected.sentences[i].prefix(40))")
        }
        XCTAssertThrowsError(try embedder.embed(ids: [Array(repeating: 100, count: 300)]))

        // From text: our WordPiece gives sentence-transformers' ids (truncation included), hence its embeddings.
        for (i, sentence) in expected.sentences.enumerated() {
            let (ids, truncated) = embedder.tokenize(sentence)
            XCTAssertEqual(ids, expected.input_ids[i], "ids of sentence \(i)")
            XCTAssertEqual(truncated, expected.input_ids[i].count == 256, "truncation flag of sentence \(i)")
        }
        let fromText = try embedder.embed(expected.sentences, batchSize: 7)  // same batches, so same padding
        XCTAssertEqual(fromText, ours)
    }
}
