import Foundation
import Models
import NN
import TestSupport
import TinyModels
import Torch
import XCTest

@testable import Training

/// DPO on the beacon loss: the loss and gradient weight by hand, the gradient at the reference against two plain
/// NLL gradients, and away from it against autograd and finite differences.
final class DPOObjectiveTests: XCTestCase {
    /// softplus(−z) and β σ(−z), worked by hand: log 2 and β/2 at z = 0, and no overflow far out.
    func testPairLossAndGradientWeightByHand() throws {
        XCTAssertEqual(DPOObjective.pairLoss(0), Foundation.log(2.0), accuracy: 1e-15)
        XCTAssertEqual(DPOObjective.pairLoss(1), Foundation.log(1 + Foundation.exp(-1.0)), accuracy: 1e-15)
        XCTAssertEqual(DPOObjective.pairLoss(-1), 1 + Foundation.log(1 + Foundation.exp(-1.0)), accuracy: 1e-15)
        XCTAssertEqual(DPOObjective.pairLoss(800), 0, accuracy: 1e-300)
        XCTAssertEqual(DPOObjective.pairLoss(-800), 800, accuracy: 1e-12)
        let objective = try DPOObjective(base: try beaconObjective(), beta: 0.5)
        XCTAssertEqual(objective.gradientWeight(0), 0.25, accuracy: 1e-15)
        XCTAssertEqual(objective.gradientWeight(-800), 0.5, accuracy: 1e-15)
        XCTAssertEqual(objective.gradientWeight(800), 0)
        // z = β((−2 − −3) − (−5 − −4)) = 0.5 · 2
        XCTAssertEqual(objective.margin(policy: (-2, -5), reference: (-3, -4)), 1, accuracy: 1e-15)
        XCTAssertThrowsError(try DPOObjective(base: try beaconObjective(), beta: 0))
    }

    /// At the reference every pair's margin is 0: the loss is log 2 a pair, and the gradient is β/2 times the
    /// chosen reply's summed-NLL gradient minus the rejected one's, each computed by plain autograd.
    func testAtTheReferenceTheGradientIsHalfBetaTimesTheNLLDifference() throws {
        let objective = try DPOObjective(base: try beaconObjective(), beta: 0.2)
        let trainable = objective.base.decoder.trainableParameters()
        let rows = pairRows()
        let batch = try SFTStoreSource.batch(rows, referenceLogProbs: try objective.base.logProbabilities(
            SFTStoreSource.batch(rows)))

        let (lossSum, pairs, untrainable) = try objective.accumulateGradients(batch)
        XCTAssertEqual(pairs, 1)
        XCTAssertEqual(untrainable, 0)
        XCTAssertEqual(lossSum, Foundation.log(2.0), accuracy: 1e-6)
        let got = try grads(trainable)

        var expected: [[Float]] = []
        for (i, row) in rows.enumerated() {
            let ids = row.ids.map(Int.init), labels = row.labels.map(Int.init)
            let (mean, valid) = try objective.base.decoder.beaconLoss(inputIds: ids, labels: labels,
                                                                      rule: objective.base.rule(for: ids))
            try (mean * Double(valid)).backward()
            let g = try grads(trainable)
            expected = i == 0 ? g.map { $0.map { $0 * 0.1 } } : zip(expected, g).map { zip($0, $1).map { $0 - 0.1 * $1 } }
        }
        assertClose(got, expected)
    }

    /// Away from the reference (margins ≠ 0), the recomputed gradient is autograd's on the differentiable loss, and
    /// its slope along a random direction matches central finite differences of the loss.
    func testAwayFromTheReferenceTheGradientMatchesAutogradAndFiniteDifferences() throws {
        let objective = try DPOObjective(base: try beaconObjective(), beta: 0.5)
        let trainable = objective.base.decoder.trainableParameters()
        let rows = pairRows()
        let policy = try objective.base.logProbabilities(SFTStoreSource.batch(rows))
        let batch = try SFTStoreSource.batch(rows, referenceLogProbs: [policy[0] + 0.7, policy[1] - 0.4])

        let (lossSum, _, _) = try objective.accumulateGradients(batch)
        let z = 0.5 * ((-0.7) - 0.4)
        XCTAssertEqual(lossSum, DPOObjective.pairLoss(z), accuracy: 1e-5)
        let got = try grads(trainable)
        let out = try objective.loss(batch)
        XCTAssertEqual(try out.sum.item(), lossSum, accuracy: 1e-5)
        try out.sum.backward()
        assertClose(got, try grads(trainable))

        var rng = SplitMix64(seed: 11)
        let direction = got.map { g in g.map { _ in Float.random(in: -1...1, using: &rng) } }
        var slope = 0.0
        for (g, d) in zip(got, direction) {
            for (a, b) in zip(g, d) { slope += Double(a) * Double(b) }
        }
        func loss(shiftedBy epsilon: Float) throws -> Double {
            let saved = try trainable.map { try $0.tensor.toArray(Float.self) }
            func install(_ values: [[Float]]) throws {
                for (p, v) in zip(trainable, values) {
                    let tensor = try Tensor(v, shape: p.tensor.shape)
                    try withNoGrad { try p.tensor.copyFrom(tensor) }
                }
            }
            try install(zip(saved, direction).map { values, d in zip(values, d).map { $0 + epsilon * $1 } })
            let value: Double = try withNoGrad { try objective.loss(batch).sum.item() }
            try install(saved)
            return value
        }
        let epsilon: Float = 1e-3
        let numeric = (try loss(shiftedBy: epsilon) - loss(shiftedBy: -epsilon)) / (2 * Double(epsilon))
        XCTAssertEqual(numeric, slope, accuracy: 0.02 * max(abs(slope), 1e-3), "finite differences \(numeric), gradient \(slope)")
        XCTAssertGreaterThan(abs(slope), 1e-4, "a direction with a slope to compare")
    }

    /// A batch without reference log-probabilities (the SFT validation data) gets the beacon objective's loss.
    func testPlainRowsGetTheBeaconLoss() throws {
        let objective = try DPOObjective(base: try beaconObjective(), beta: 0.1)
        let batch = try SFTStoreSource.batch(pairRows())
        let dpo = try withNoGrad { try objective.loss(batch) }, plain = try withNoGrad { try objective.base.loss(batch) }
        XCTAssertEqual(dpo.tokens, plain.tokens)
        XCTAssertEqual(try dpo.sum.item(), try plain.sum.item(), accuracy: 1e-6)
        XCTAssertThrowsError(try objective.loss(SFTStoreSource.batch(pairRows(), referenceLogProbs: [0])))
    }

    /// Stage clue-feedback's objective follows its method, the default (DPO) included when the recipe has no
    /// `feedback` section; the other beacon stages keep the plain beacon loss.
    func testTheStagesObjectiveFollowsItsMethod() throws {
        let root = try temporaryDirectory("dpo-objective-choice")
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model")
        try TinyModels.writeMemoryModel(to: model)
        let source = try ModelSource.load(path: model.path, dtype: .float32)
        func objective(_ overrides: [String], section: Bool = true) throws -> TrainingObjective {
            var recipe = try RecipeLoader.load(file: recipesDirectory.appendingPathComponent("clue-feedback.yaml"),
                                               overrides: ["model.path=\(model.path)"] + overrides)
            if !section { recipe.feedback = nil }
            return try TrainingSetup.defaultObjective(recipe, source)
        }
        XCTAssertTrue(try objective([]) is DPOObjective)
        XCTAssertTrue(try objective([], section: false) is DPOObjective, "an absent section takes the default method")
        XCTAssertFalse(try objective(["feedback.method=rejection-sampling"]) is DPOObjective)
        XCTAssertEqual((try objective(["feedback.beta=0.3"]) as? DPOObjective)?.beta, 0.3)
    }

    // MARK: - Helpers

    private func beaconObjective() throws -> BeaconObjective {
        let model = try TinyRun.model()
        try model.addBeacon(BeaconSettings(window: 16, ratios: [2, 4], ratioMix: "step-random"))
        _ = try model.trainOnlyBeacon()
        return try BeaconObjective(decoder: model, ratios: [2, 4], seed: 5)
    }

    /// Two replies of 6 tokens after one 34-token prompt (three windows: the replies read beacons).
    private func pairRows() -> [(ids: [Int64], labels: [Int64])] {
        let prompt = TinyRun.documents(count: 1, length: 34)[0].map(Int64.init)
        let replies: [[Int64]] = [[5, 9, 11, 3, 7, 2], [8, 8, 4, 13, 6, 2]]
        return replies.map { (prompt + $0, Array(repeating: Int64(TrainingBatch.ignoreIndex), count: prompt.count) + $0) }
    }

    /// The trainable parameters' gradients (zeros for one the loss did not reach), then cleared.
    private func grads(_ trainable: [(name: String, tensor: Tensor)]) throws -> [[Float]] {
        defer { for p in trainable { try? p.tensor.setGrad(nil) } }
        return try trainable.map { p in
            try p.tensor.grad?.toArray(Float.self) ?? Array(repeating: 0, count: p.tensor.shape.reduce(1, *))
        }
    }

    private func assertClose(_ got: [[Float]], _ want: [[Float]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, file: file, line: line)
        XCTAssertTrue(want.contains { $0.contains { $0 != 0 } }, "some gradient to compare", file: file, line: line)
        for (a, b) in zip(got, want) {
            let scale = b.map(abs).max() ?? 1
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-4 * max(scale, 1e-3), file: file, line: line) }
        }
    }
}
