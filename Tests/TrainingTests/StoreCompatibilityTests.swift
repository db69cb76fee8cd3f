import Datasets
import Foundation
import TestSupport
import Torch
import Training
import XCTest

/// A data store made with another tokenizer used to be accepted and fail at step 1 inside libtorch ("index out of
/// range in self"): it is refused when the trainer opens it, naming the store and both tokenizers (issue 22).
final class StoreCompatibilityTests: XCTestCase {
    static let tokenizerJSON = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("TokenizersTests/Fixtures/bpe/bytelevel/tokenizer.json")

    private func store(_ url: URL, vocabSize: Int = 64, hash: String) throws {
        let writer = try TokenStoreWriter(url: url, vocabSize: vocabSize, tokenizerSHA256: hash)
        for document in TinyRun.documents(count: 8, length: 40) { try writer.append(document: document) }
        try writer.finish()
    }

    func testAStoreOfAnotherTokenizerIsRefusedNamingBothHashes() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        try FileManager.default.copyItem(at: Self.tokenizerJSON, to: work.modelDir.appendingPathComponent("tokenizer.json"))
        let modelHash = try SHA256.hex(fileAt: Self.tokenizerJSON)
        let other = String(repeating: "ab", count: 32)
        let url = work.root.appendingPathComponent("other.h5")
        try store(url, hash: other)
        XCTAssertThrowsError(try TrainingSetup.makeTrainer(recipe: work.recipe(["data.train=\(url.path)"]))) { error in
            let message = error.localizedDescription
            for fragment in [url.path, other, modelHash, "another tokenizer"] {
                XCTAssertTrue(message.contains(fragment), "'\(fragment)' not in: \(message)")
            }
        }
        // The same store stamped with the model's tokenizer trains.
        let good = work.root.appendingPathComponent("good.h5")
        try store(good, hash: modelHash)
        let trainer = try TrainingSetup.makeTrainer(recipe: work.recipe(["data.train=\(good.path)", "max_steps=1"]))
        XCTAssertNoThrow(try trainer.trainStep())
    }

    /// Without a tokenizer.json to compare, a store whose ids run past the model's embedding is still refused.
    func testAStoreWithALargerVocabularyThanTheModelIsRefused() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let url = work.root.appendingPathComponent("wide.h5")
        try store(url, vocabSize: 50_000, hash: String(repeating: "0", count: 64))
        XCTAssertThrowsError(try TrainingSetup.makeTrainer(recipe: work.recipe(["data.train=\(url.path)"]))) { error in
            let message = error.localizedDescription
            XCTAssertTrue(message.contains(url.path) && message.contains("50000"), message)
        }
    }
}
