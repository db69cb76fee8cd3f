import Datasets
import Foundation
import Models
import NN
import TestSupport
import Torch
import Training
import XCTest

/// The memory model's stages through the trainer: the beacon objective on HDF5 stores.
final class BeaconTrainingTests: XCTestCase {
    static let settings = BeaconSettings(window: 16, ratios: [2, 4], ratioMix: "step-random")

    private func beaconModel() throws -> DecoderLM {
        let model = try TinyRun.model()
        try model.addBeacon(Self.settings)
        return model
    }

    /// A pretraining store of the tiny learnable documents (every document 40 tokens, so samples span windows).
    private func pretrainStore(_ dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("pretrain.h5")
        let writer = try TokenStoreWriter(url: url, vocabSize: 64, tokenizerSHA256: String(repeating: "0", count: 64))
        for document in TinyRun.documents(count: 24, length: 60) { try writer.append(document: document) }
        try writer.setValidationDocuments([0, 1])
        try writer.finish()
        return url
    }

    /// The recomputing backward of the beacon objective gives the gradients of the summed loss, exactly what
    /// back-propagating `loss(batch)` gives.
    func testAccumulatedGradientsEqualTheDifferentiableLoss() throws {
        let dir = try temporaryDirectory("beacon-objective")
        let source = try TokenStoreSource(url: try pretrainStore(dir), minLength: 40, maxLength: 56, batchSize: 2,
                                          seed: 3, separatorToken: 2)
        let batch = try source.next()
        let model = try beaconModel()
        _ = try model.trainOnlyBeacon()
        let objective = try BeaconObjective(decoder: model, ratios: [2, 4], seed: 5)
        let trainable = model.trainableParameters()

        let out = try objective.loss(batch)
        try out.sum.backward()
        let expected = try trainable.map { try $0.tensor.grad!.toArray(Float.self) }
        for p in trainable { try p.tensor.setGrad(nil) }

        let (lossSum, tokens, untrainable) = try objective.accumulateGradients(batch)
        XCTAssertEqual(untrainable, 0, "every sample spans windows")
        XCTAssertEqual(tokens, out.tokens)
        XCTAssertEqual(lossSum, try out.sum.item(), accuracy: 1e-4 * max(1, abs(lossSum)))
        for (p, want) in zip(trainable, expected) {
            let got = try p.tensor.grad!.toArray(Float.self)
            let scale = want.map(abs).max() ?? 1
            for (a, b) in zip(got, want) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(scale, 1e-3), p.name) }
        }
    }

    /// `beacon-pretrain` through `memorag train`'s setup: the loss falls and only beacon parameters move.
    func testBeaconPretrainingLowersTheLossAndTouchesOnlyBeacons() throws {
        let workspace = try TinyRun.Workspace()
        defer { workspace.remove() }
        let model = try beaconModel()
        try model.hfConfigJSON(dtype: .float32).write(to: workspace.modelDir.appendingPathComponent("config.json"))
        try Safetensors.save(TinyRun.parameters(model), to: workspace.modelDir.appendingPathComponent("model.safetensors"))
        let store = try pretrainStore(workspace.root)
        let recipe = try workspace.recipe([
            "stage=beacon-pretrain", "data.train=\(store.path)", "data.validation=\(store.path)", "data.ratios=[2,4]",
            "data.min_length=40", "data.max_length=56", "trainable.mode=only_beacon", "max_steps=30",
            "optimizer.lr=0.02", "schedule.warmup_steps=0", "grad_accumulation=1", "checkpoint.every=1000",
            "validation.every=1000",
        ])
        let trainer = try TrainingSetup.makeTrainer(recipe: recipe)
        let before = TinyRun.parameters(trainer.objective.model).mapValues { try! $0.toArray(Float.self) }
        let (startLoss, _) = try trainer.validate()
        var losses: [Double] = []
        for _ in 0..<30 { losses.append(try trainer.trainStep().loss) }
        let (endLoss, _) = try trainer.validate()
        XCTAssertLessThan(endLoss, startLoss, "validation loss \(startLoss) → \(endLoss); steps \(losses)")
        for (name, tensor) in TinyRun.parameters(trainer.objective.model) {
            let same = try tensor.toArray(Float.self) == before[name]!
            XCTAssertEqual(same, !name.contains("beacon"), name)
        }
    }

    /// A run can start from a beacon delta (SFT after pretraining, or adapting the shipped model): the base plus the
    /// delta's beacon parameters are what trains, and a beacon-only export of that run names the original base.
    func testTrainingStartsFromABeaconDeltaAndExportsOverItsBase() throws {
        let workspace = try TinyRun.Workspace()
        defer { workspace.remove() }
        let base = try DecoderLM.load(directory: workspace.modelDir)
        let trained = try beaconModel()
        let beacon = TinyRun.parameters(trained).filter { $0.key.contains("beacon") }
        let delta = workspace.root.appendingPathComponent("delta")
        try FileManager.default.createDirectory(at: delta, withIntermediateDirectories: true)
        try trained.hfConfigJSON(dtype: .float32).write(to: delta.appendingPathComponent("config.json"))
        try Safetensors.save(beacon, to: delta.appendingPathComponent("model.safetensors"))
        let manifest: [String: Any] = ["format": BeaconDelta.manifestFormat, "version": 1, "base_model": "model",
                                       "base_path": workspace.modelDir.path, "tensors": beacon.keys.sorted()]
        try JSONSerialization.data(withJSONObject: manifest).write(to: delta.appendingPathComponent("manifest.json"))

        let source = try ModelSource.load(path: delta.path, dtype: .float32)
        let loaded = TinyRun.parameters(source.decoder)
        XCTAssertEqual(Set(loaded.keys), Set(TinyRun.parameters(base).keys).union(beacon.keys))
        for (name, value) in TinyRun.parameters(base) { XCTAssertTrue(try loaded[name]!.equals(value), name) }
        for (name, value) in beacon { XCTAssertTrue(try loaded[name]!.equals(value), name) }

        let store = try pretrainStore(workspace.root)
        let trainer = try TrainingSetup.makeTrainer(recipe: try workspace.recipe([
            "model.path=\(delta.path)", "stage=beacon-pretrain", "data.train=\(store.path)", "data.ratios=[2,4]",
            "data.min_length=40", "data.max_length=56", "trainable.mode=only_beacon", "max_steps=1",
            "grad_accumulation=1", "checkpoint.every=1",
        ]))
        try trainer.run()
        let out = workspace.root.appendingPathComponent("export")
        try ModelExport.export(checkpoint: workspace.output.appendingPathComponent("step-1"), to: out, beaconOnly: true)
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("manifest.json"))) as! [String: Any]
        XCTAssertEqual(written["base_path"] as? String, workspace.modelDir.path, "the delta's base, not the delta")
        let reloaded = try ModelSource.load(path: out.path, dtype: .float32)
        let final = TinyRun.parameters(trainer.objective.model)
        for (name, value) in TinyRun.parameters(reloaded.decoder) { XCTAssertTrue(try final[name]!.equals(value), name) }
    }

    /// A workspace whose model dir holds the tiny beacon model.
    private func beaconWorkspace() throws -> TinyRun.Workspace {
        let workspace = try TinyRun.Workspace()
        let model = try beaconModel()
        try model.hfConfigJSON(dtype: .float32).write(to: workspace.modelDir.appendingPathComponent("config.json"))
        try Safetensors.save(TinyRun.parameters(model), to: workspace.modelDir.appendingPathComponent("model.safetensors"))
        return workspace
    }

    /// An SFT store with one recall example per context: the context is the first `contextLengths[i]` tokens of a
    /// learnable document, the prompt two tokens, the reply the document's opening (learnable only through memory).
    private func sftStore(in workspace: TinyRun.Workspace, contextLengths: [Int]) throws -> URL {
        let url = workspace.root.appendingPathComponent("sft.h5")
        let writer = try SFTStoreWriter(url: url, vocabSize: 64, tokenizerSHA256: String(repeating: "0", count: 64))
        let documents = TinyRun.documents(count: contextLengths.count, length: 40)
        for (i, document) in documents.enumerated() {
            let context = try writer.addContext(document.prefix(contextLengths[i]).map(UInt32.init), key: "doc\(i)")
            try writer.addExample(contextID: context, prompt: [3, 4], target: document.prefix(4).map(UInt32.init),
                                  task: .recall)
        }
        try writer.finish()
        return url
    }

    /// A batch of SFT examples of different lengths is right-padded to its longest; the beacon objective drops the
    /// padding, so each row gives exactly the loss it gives alone (what lets ranks split a global SFT batch).
    func testAPaddedSFTBatchGivesEachRowItsLossAlone() throws {
        let workspace = try beaconWorkspace()
        defer { workspace.remove() }
        let url = try sftStore(in: workspace, contextLengths: [12, 40, 26, 33])
        let pairs = try SFTStoreSource(url: url, maxLength: 64, batchSize: 2, seed: 9)
        let singles = try SFTStoreSource(url: url, maxLength: 64, batchSize: 1, seed: 9)
        let objective = try BeaconObjective(decoder: try beaconModel(), ratios: [2], seed: 5)
        try withNoGrad {
            for _ in 0..<2 {
                let batch = try pairs.next()
                XCTAssertEqual(batch.inputIds.dim(0), 2)
                let together = try objective.loss(batch)
                let alone = try [singles.next(), singles.next()].map { try objective.loss($0) }
                XCTAssertEqual(together.tokens, alone[0].tokens + alone[1].tokens)
                let sum = try alone[0].sum.item() + alone[1].sum.item()
                XCTAssertEqual(try together.sum.item(), sum, accuracy: 1e-5 * abs(sum))
            }
        }
    }

    /// `sft` on an SFT store: labels only on the replies, and the reply loss falls.
    func testSFTLowersTheReplyLoss() throws {
        let workspace = try beaconWorkspace()
        defer { workspace.remove() }
        let url = try sftStore(in: workspace, contextLengths: [40, 40, 40, 40])
        let recipe = try workspace.recipe([
            "stage=sft", "data.train=\(url.path)", "data.ratios=[2]", "data.max_length=64", "trainable.mode=full",
            "max_steps=40", "optimizer.lr=0.01", "schedule.warmup_steps=0", "grad_accumulation=1",
            "checkpoint.every=1000", "validation.every=1000",
        ])
        let trainer = try TrainingSetup.makeTrainer(recipe: recipe)
        var losses: [Double] = []
        for _ in 0..<40 { losses.append(try trainer.trainStep().loss) }
        let first = losses.prefix(8).reduce(0, +) / 8, last = losses.suffix(8).reduce(0, +) / 8
        XCTAssertLessThan(last, first * 0.7, "\(losses)")
    }

    /// An SFT example that fits in one beacon window gets no beacon, so while only beacon parameters train its loss
    /// reaches nothing trainable (libtorch: "element 0 of tensors does not require grad"). It is counted with no
    /// gradient and reported; the run trains through it (issue 22: `memorag adapt` stopped at SFT step 2).
    func testSFTTrainsThroughAnExampleThatFitsInOneWindow() throws {
        let workspace = try beaconWorkspace()
        defer { workspace.remove() }
        // Example 0: 8 context + 2 prompt + 4 reply tokens, inside one 16-token window; the others span three.
        let url = try sftStore(in: workspace, contextLengths: [8, 40, 40])
        let trainer = try TrainingSetup.makeTrainer(recipe: try workspace.recipe([
            "stage=sft", "data.train=\(url.path)", "data.ratios=[2]", "data.max_length=64", "trainable.mode=only_beacon",
            "max_steps=6", "optimizer.lr=0.01", "schedule.warmup_steps=0", "grad_accumulation=1", "batch_size=1",
            "checkpoint.every=1000", "validation.every=1000",
        ]))
        let before = TinyRun.parameters(trainer.objective.model).mapValues { try! $0.toArray(Float.self) }
        var untrainable: [Int] = [], steps: [StepMetrics] = []
        try trainer.run { event in
            if case .untrainableSamples(let step, let count) = event { untrainable.append(contentsOf: Array(repeating: step, count: count)) }
            if case .step(let m) = event { steps.append(m) }
        }
        XCTAssertEqual(trainer.step, 6)
        XCTAssertEqual(steps.count, 6)
        // Six steps over three examples (two epochs): the short one came up twice, each time counted with no gradient.
        XCTAssertEqual(untrainable.count, 2, "steps \(untrainable)")
        for m in steps { XCTAssertTrue(m.loss.isFinite && m.loss > 0, "\(m)") }
        for step in untrainable { XCTAssertEqual(steps[step - 1].gradNorm, 0, "step \(step) had no gradient") }
        // The other examples did train the beacons.
        let moved = TinyRun.parameters(trainer.objective.model).filter { $0.key.contains("beacon") }
            .contains { try! $0.value.toArray(Float.self) != before[$0.key]! }
        XCTAssertTrue(moved)
    }
}
