import Foundation
import Models
import TestSupport
import Torch
@testable import Training
import XCTest

final class ExportTests: XCTestCase {
    static let ids: [[Int64]] = [[1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45], [3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36]]

    /// Trains a few steps and returns the trainer (its model is the in-memory reference) and the last checkpoint.
    private func trainedCheckpoint(_ work: TinyRun.Workspace) throws -> (Trainer, URL) {
        let trainer = try TrainingSetup.makeTrainer(recipe: work.recipe(["max_steps=3"]))
        try trainer.run()
        return (trainer, work.output.appendingPathComponent("step-3"))
    }

    private func logits(_ model: DecoderLM) throws -> Tensor {
        try withNoGrad { try model(Tensor(Self.ids.flatMap { $0 }, shape: [2, 12])) }
    }

    func testExportLoadsBackAsTheInMemoryModel() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let (trainer, checkpoint) = try trainedCheckpoint(work)
        let reference = (trainer.objective as! CausalLMObjective).decoder
        let out = work.root.appendingPathComponent("export")
        let report = try ModelExport.export(checkpoint: checkpoint, to: out)
        XCTAssertEqual(report.files, ["model.safetensors", "config.json"])
        let loaded = try DecoderLM.load(directory: out)
        XCTAssertTrue(try logits(loaded).equals(logits(reference)), "fp32 export must reproduce the model exactly")
        for (name, value) in TinyRun.parameters(reference) {
            XCTAssertTrue(try TinyRun.parameters(loaded)[name]!.equals(value), name)
        }

        // bf16: the weights are the in-memory ones rounded, and config.json says so.
        let bf16 = work.root.appendingPathComponent("export-bf16")
        try ModelExport.export(checkpoint: checkpoint, to: bf16, dtype: .bfloat16)
        let file = try SafetensorsFile(url: bf16.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(Set(file.entries.values.map(\.dtype)), [.bfloat16])
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: bf16.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(config["torch_dtype"] as? String, "bfloat16")
        let loadedBF16 = try DecoderLM.load(directory: bf16, dtype: .bfloat16)
        for (name, value) in TinyRun.parameters(reference) {
            XCTAssertTrue(try TinyRun.parameters(loadedBF16)[name]!.equals(value.to(.bfloat16)), name)
        }
    }

    func testBeaconOnlyExportKeepsTheBeaconTensorsAndNamesTheBase() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let (_, checkpoint) = try trainedCheckpoint(work)
        XCTAssertThrowsError(try ModelExport.export(checkpoint: checkpoint, to: work.root.appendingPathComponent("none"),
                                                    beaconOnly: true)) { error in
            XCTAssertTrue(error.localizedDescription.contains("no tensor whose name contains 'beacon'"), error.localizedDescription)
        }
        // A checkpoint of a model with beacon parameters (shapes as in DESIGN §2: embedding [1, hidden], per-layer
        // beacon projections like q/k/v_proj).
        var weights = try SafetensorsCheckpoint(directory: checkpoint).tensors()
        let beacon: [String: Tensor] = [
            "model.beacon_embed_tokens.weight": try Tensor.randn([1, 32]),
            "model.layers.0.self_attn.beacon_q_proj.weight": try Tensor.randn([32, 32]),
            "model.layers.1.self_attn.beacon_k_proj.weight": try Tensor.randn([16, 32]),
        ]
        weights.merge(beacon) { $1 }
        try Safetensors.save(weights, to: checkpoint.appendingPathComponent("model.safetensors"))

        let out = work.root.appendingPathComponent("delta")
        let report = try ModelExport.export(checkpoint: checkpoint, to: out, dtype: .bfloat16, beaconOnly: true)
        XCTAssertEqual(report.files, ["model.safetensors", "config.json", "manifest.json"])
        let (saved, _) = try Safetensors.load(out.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(Set(saved.keys), Set(beacon.keys))
        for (name, value) in beacon { XCTAssertTrue(try saved[name]!.equals(value.to(.bfloat16)), name) }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("manifest.json"))) as! [String: Any]
        XCTAssertEqual(manifest["format"] as? String, "memorag.beacon-delta")
        XCTAssertEqual(manifest["base_model"] as? String, "model")
        XCTAssertEqual(manifest["base_path"] as? String, work.modelDir.path)
        XCTAssertEqual(manifest["trained_steps"] as? Int, 3)
        XCTAssertEqual(manifest["tensors"] as? [String], beacon.keys.sorted())
    }

    /// A beacon-only delta of a LoRA run keeps the adapters as factors, with their rank and alpha in the manifest,
    /// rather than the full weights they change (the loader folds them in; see BeaconDeltaTests).
    func testBeaconOnlyExportOfALoRARunKeepsTheFactors() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let trainer = try TrainingSetup.makeTrainer(recipe: work.recipe([
            "max_steps=2", "trainable.mode=lora", "trainable.lora_modules=[q_proj,v_proj]", "trainable.lora_rank=4",
            "trainable.lora_alpha=8", "optimizer.lr=1e-2"]))
        try trainer.run()
        let checkpoint = work.output.appendingPathComponent("step-2")
        var weights = try SafetensorsCheckpoint(directory: checkpoint).tensors()
        let factors = weights.filter { $0.key.contains(".lora_") }
        XCTAssertEqual(factors.count, 2 * 2 * 2, "q and v adapters of both layers")
        weights["model.beacon_embed_tokens.weight"] = try Tensor.randn([1, 32])
        try Safetensors.save(weights, to: checkpoint.appendingPathComponent("model.safetensors"))

        let manifest = try exportedDelta(checkpoint, to: work.root.appendingPathComponent("delta"), carrying: factors,
                                         rank: 4, alpha: 8)
        XCTAssertEqual(manifest.tensors, Set(factors.keys).union(["model.beacon_embed_tokens.weight"]).sorted())
    }

    /// Exports `checkpoint` as a beacon-only delta to `out` and checks it holds the beacon embedding and exactly
    /// `factors`, with `rank` and `alpha` in its manifest (returned).
    private func exportedDelta(_ checkpoint: URL, to out: URL, carrying factors: [String: Tensor], rank: Int,
                               alpha: Double, file: StaticString = #filePath, line: UInt = #line) throws -> BeaconDelta.Manifest {
        try ModelExport.export(checkpoint: checkpoint, to: out, beaconOnly: true)
        let (saved, _) = try Safetensors.load(out.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(Set(saved.keys), Set(factors.keys).union(["model.beacon_embed_tokens.weight"]), file: file, line: line)
        for (name, value) in factors { XCTAssertTrue(try saved[name]!.equals(value), name, file: file, line: line) }
        let manifest = try XCTUnwrap(try BeaconDelta.manifest(in: out), file: file, line: line)
        XCTAssertEqual(manifest.loraRank, rank, file: file, line: line)
        XCTAssertEqual(manifest.loraAlpha, alpha, file: file, line: line)
        return manifest
    }

    /// A beacon-only run that started from a delta with LoRA factors left the weights those factors made as they
    /// were: its delta carries the same factors. A LoRA run over it carries both sets, stacked.
    func testBeaconOnlyExportCarriesTheLoRAFactorsOfTheDeltaItStartedFrom() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let (_, checkpoint) = try trainedCheckpoint(work)
        var weights = try SafetensorsCheckpoint(directory: checkpoint).tensors()
        weights["model.beacon_embed_tokens.weight"] = try Tensor.randn([1, 32])
        try Safetensors.save(weights, to: checkpoint.appendingPathComponent("model.safetensors"))
        // The starting delta: beacon tensors and q_proj factors over the workspace's model.
        let start = work.root.appendingPathComponent("start-delta")
        try FileManager.default.createDirectory(at: start, withIntermediateDirectories: true)
        let factors = ["model.layers.0.self_attn.q_proj.lora_A.weight": try Tensor.randn([2, 32]),
                       "model.layers.0.self_attn.q_proj.lora_B.weight": try Tensor.randn([32, 2])]
        try Safetensors.save(factors.merging(["model.beacon_embed_tokens.weight": try Tensor.randn([1, 32])]) { $1 },
                             to: start.appendingPathComponent("model.safetensors"))
        let manifest: [String: Any] = ["format": BeaconDelta.manifestFormat, "version": 1, "base_model": "model",
                                       "base_path": work.modelDir.path, "tensors": [String](), "lora_rank": 2, "lora_alpha": 4]
        try JSONSerialization.data(withJSONObject: manifest).write(to: start.appendingPathComponent("manifest.json"))
        var state = try TrainerState.read(from: checkpoint)
        state.recipe.model.path = start.path
        state.recipe.trainable.mode = .onlyBeacon
        try state.write(to: checkpoint)

        let out = work.root.appendingPathComponent("delta")
        let written = try exportedDelta(checkpoint, to: out, carrying: factors, rank: 2, alpha: 4)
        XCTAssertEqual(written.baseModel, "model", "the base is the one under the starting delta")

        // A LoRA run over that delta: its own adapters (on q of layer 0 too, and on v of layer 1, which the starting
        // delta does not adapt) and the inherited ones stacked into one pair per projection with scale 1.
        let own = ["model.layers.0.self_attn.q_proj.lora_A.weight": try Tensor.randn([2, 32]),
                   "model.layers.0.self_attn.q_proj.lora_B.weight": try Tensor.randn([32, 2]),
                   "model.layers.1.self_attn.v_proj.lora_A.weight": try Tensor.randn([2, 32]),
                   "model.layers.1.self_attn.v_proj.lora_B.weight": try Tensor.randn([16, 2])]
        try Safetensors.save(weights.merging(own) { $1 }, to: checkpoint.appendingPathComponent("model.safetensors"))
        state.recipe.trainable.mode = .lora
        state.recipe.trainable.loraRank = 2
        state.recipe.trainable.loraAlpha = 6
        try state.write(to: checkpoint)
        try ModelExport.export(checkpoint: checkpoint, to: out, beaconOnly: true)
        let stacked = try XCTUnwrap(try BeaconDelta.manifest(in: out))
        XCTAssertEqual(stacked.loraRank, 4)
        XCTAssertEqual(stacked.loraScale, 1)
        let (saved, _) = try Safetensors.load(out.appendingPathComponent("model.safetensors"))
        func update(_ f: [String: Tensor], _ prefix: String, scale: Double) throws -> Tensor? {
            guard let a = f[prefix + ".lora_A.weight"], let b = f[prefix + ".lora_B.weight"] else { return nil }
            return try b.matmul(a) * scale
        }
        for (prefix, outputs) in [("model.layers.0.self_attn.q_proj", 32), ("model.layers.1.self_attn.v_proj", 16)] {
            let expected = try [update(factors, prefix, scale: 2), update(own, prefix, scale: 3)].compactMap { $0 }
                .reduce(try Tensor.zeros([outputs, 32])) { try $0 + $1 }
            let got = try XCTUnwrap(try update(saved, prefix, scale: 1), prefix)
            assertClose(got, expected, atol: 1e-4, prefix)
        }
    }

    /// transformers (`LlamaForCausalLM`) reads our exports — untied and tied lm_head (SmolLM2 ties it) — and
    /// computes the same logits.
    func testTransformersLoadsTheExportWithTheSameLogits() throws {
        let python = ProcessInfo.processInfo.environment["MEMORAG_TRANSFORMERS_PYTHON"]
            ?? NSString(string: "~/.cache/memorag/venv-peer/bin/python").expandingTildeInPath
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw XCTSkip("no Python with transformers at \(python) (scripts/peer-venv.sh makes it)")
        }
        var runs: [(work: TinyRun.Workspace, trainer: Trainer, export: URL, logits: URL, tied: Bool)] = []
        defer { runs.forEach { $0.work.remove() } }
        for tied in [false, true] {
            let work = try TinyRun.Workspace(tied: tied)
            let (trainer, checkpoint) = try trainedCheckpoint(work)
            let out = work.root.appendingPathComponent("export")
            try ModelExport.export(checkpoint: checkpoint, to: out)
            runs.append((work, trainer, out, work.root.appendingPathComponent("hf.safetensors"), tied))
        }
        let idsURL = runs[0].work.root.appendingPathComponent("ids.json")
        try JSONEncoder().encode(Self.ids).write(to: idsURL)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/hf_logits.py")
        let (status, output) = try runPythonCheck(python, [script.path, idsURL.path] + runs.flatMap { [$0.export.path, $0.logits.path] })
        XCTAssertEqual(status, 0, output)
        for run in runs {
            let (tensors, metadata) = try Safetensors.load(run.logits)
            XCTAssertEqual(metadata["class"], "LlamaForCausalLM")
            XCTAssertEqual(metadata["tied"], run.tied ? "True" : "False")
            let ours = try logits((run.trainer.objective as! CausalLMObjective).decoder)
            assertClose(ours, tensors["logits"]!, atol: 1e-4, rtol: 1e-4, "tied: \(run.tied)")
        }
    }
}
