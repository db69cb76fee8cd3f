import Foundation
import Models
import Torch
import XCTest

/// `replyLogLikelihoods` against the plain forward pass: for every prefix of every continuation, the whole sequence
/// prompt + prefix runs through the model at once (no cache, no batch, no padding) and the log-probabilities of the
/// prefix's tokens and of the stop tokens are summed by hand.
final class ReplyLikelihoodTests: XCTestCase {
    func testEveryPrefixScoreMatchesAFullForwardPass() throws {
        let model = try GenerationSafetyTests.qwen2()
        let prompt = [3, 17, 42, 8, 99]
        let continuations = [[5, 6, 7, 8], [11], [], [60, 2, 2, 31, 40, 9]]
        let stops: Set<Int> = [1, 4]
        // A batch of 2 puts short and long continuations together, so padding is exercised.
        let scores = try model.replyLogLikelihoods(promptIds: prompt, continuations: continuations, stopTokenIds: stops,
                                                   batchSize: 2)
        XCTAssertEqual(scores.map(\.count), continuations.map(\.count))
        for (c, row) in zip(continuations, scores) {
            for k in stride(from: 1, through: c.count, by: 1) {
                let ids = prompt + c[..<k]
                let logProbs = try withNoGrad {
                    try model(Tensor(ids.map { Int64($0) }, shape: [1, ids.count])).to(.float32).logSoftmax(dim: 2)
                        .reshape(ids.count, -1)
                }
                var expected: Double = 0
                for j in 0..<k {
                    expected += Double(try logProbs.select(dim: 0, index: prompt.count - 1 + j).toArray(Float.self)[c[j]])
                }
                let last = try logProbs.select(dim: 0, index: ids.count - 1).toArray(Float.self)
                expected += log(stops.map { exp(Double(last[$0])) }.reduce(0, +))
                XCTAssertEqual(Double(row[k - 1]), expected, accuracy: 1e-3, "continuation \(c), prefix \(k)")
            }
        }
    }

    /// `continuationLogLikelihoods` against the same plain forward pass, one prompt at a time: prompts of different
    /// lengths share a batch, so right padding and the per-row positions of the continuation are exercised.
    func testContinuationScoreAfterEachPromptMatchesAFullForwardPass() throws {
        let model = try GenerationSafetyTests.qwen2()
        let prompts = [[3, 17, 42, 8, 99], [7], [12, 13, 14], [50, 51, 52, 53, 54, 55, 56, 57]]
        let continuation = [5, 6, 7, 8]
        let scores = try model.continuationLogLikelihoods(prompts: prompts, continuation: continuation, batchSize: 3)
        XCTAssertEqual(scores.count, prompts.count)
        for (prompt, score) in zip(prompts, scores) {
            let ids = prompt + continuation
            let logProbs = try withNoGrad {
                try model(Tensor(ids.map { Int64($0) }, shape: [1, ids.count])).to(.float32).logSoftmax(dim: 2)
                    .reshape(ids.count, -1)
            }
            var expected: Double = 0
            for (j, token) in continuation.enumerated() {
                expected += Double(try logProbs.select(dim: 0, index: prompt.count - 1 + j).toArray(Float.self)[token])
            }
            XCTAssertEqual(Double(score), expected, accuracy: 1e-3, "prompt \(prompt)")
        }
        XCTAssertNotEqual(scores[0], scores[1], accuracy: 1e-4, "different prompts, the same score: the prompt was not read")
        XCTAssertThrowsError(try model.continuationLogLikelihoods(prompts: [[1], []], continuation: [2]))
        XCTAssertThrowsError(try model.continuationLogLikelihoods(prompts: [[1]], continuation: []))
        XCTAssertThrowsError(try model.continuationLogLikelihoods(prompts: [[1]], continuation: [model.config.vocabSize])) { error in
            XCTAssertTrue(error.localizedDescription.contains("outside the vocabulary"), error.localizedDescription)
        }
    }

    func testOutOfVocabularyIdsAndMissingStopsAreRefused() throws {
        let model = try GenerationSafetyTests.qwen2()
        XCTAssertThrowsError(try model.replyLogLikelihoods(promptIds: [1, 2], continuations: [[model.config.vocabSize]],
                                                          stopTokenIds: [1])) { error in
            XCTAssertTrue(error.localizedDescription.contains("outside the vocabulary"), error.localizedDescription)
        }
        XCTAssertThrowsError(try model.replyLogLikelihoods(promptIds: [1, 2], continuations: [[3]], stopTokenIds: []))
    }

    /// Non-finite weights give an error, not a "likeliest" reply chosen among NaN scores.
    func testNonFiniteLogitsAreAnErrorNotAScore() throws {
        let source = DecoderParityTests.fixtures.appendingPathComponent("qwen2")
        let model = try DecoderLM.load(directory: source)
        var weights = try Safetensors.load(source.appendingPathComponent("model.safetensors")).tensors
        weights["model.norm.weight"] = try Tensor.full(weights["model.norm.weight"]!.shape, .nan)
        try model.load(weights: weights, from: source)
        XCTAssertThrowsError(try model.replyLogLikelihoods(promptIds: [1, 2, 3], continuations: [[4, 5]], stopTokenIds: [1])) { error in
            XCTAssertTrue(error.localizedDescription.contains("non-finite"), error.localizedDescription)
        }
    }
}
