import Foundation
import Models
import TestSupport
import Torch
import Training
import XCTest

final class LoRATrainingTests: XCTestCase {
    func testLoRATrainsOnlyTheAdaptersAndExportMergesThem() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        let trainer = try TrainingSetup.makeTrainer(recipe: work.recipe([
            "max_steps=5", "trainable.mode=lora", "trainable.lora_modules=[q_proj,v_proj]", "trainable.lora_rank=4",
            "trainable.lora_alpha=8", "optimizer.lr=1e-2",
        ]))
        XCTAssertEqual(trainer.optimizer.names.count, 8, "2 layers × {q_proj, v_proj} × {A, B}")
        XCTAssertTrue(trainer.optimizer.names.allSatisfy { $0.contains(".lora_") }, "\(trainer.optimizer.names)")
        try trainer.run()
        let decoder = (trainer.objective as! CausalLMObjective).decoder

        // The base weights are bit-identical to the model the run started from.
        let initial = TinyRun.parameters(try TinyRun.model())
        let trained = TinyRun.parameters(decoder)
        for (name, value) in initial { XCTAssertTrue(try trained[name]!.equals(value), "\(name) changed although frozen") }

        // Export folds the adapters in: a plain model with the adapted model's logits.
        let out = work.root.appendingPathComponent("export")
        try ModelExport.export(checkpoint: work.output.appendingPathComponent("step-5"), to: out)
        let exported = try DecoderLM.load(directory: out)
        XCTAssertEqual(Set(TinyRun.parameters(exported).keys), Set(initial.keys))
        let ids = try Tensor(ExportTests.ids.flatMap { $0 }, shape: [2, 12])
        let adapted = try withNoGrad { try decoder(ids) }
        XCTAssertFalse(try adapted.equals(withNoGrad { try TinyRun.model()(ids) }), "the adapters must have trained")
        assertClose(try withNoGrad { try exported(ids) }, adapted, atol: 1e-5, rtol: 1e-4)
    }

    func testLoRAOnUnknownModulesIsAnError() throws {
        let work = try TinyRun.Workspace()
        defer { work.remove() }
        XCTAssertThrowsError(try TrainingSetup.makeTrainer(recipe: work.recipe([
            "trainable.mode=lora", "trainable.lora_modules=[qkv]", "trainable.lora_rank=4", "trainable.lora_alpha=8",
        ]))) { error in
            guard case .nothingToTrain = error as? TrainingError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try work.recipe(["trainable.mode=lora"])) { error in
            XCTAssertEqual((error as? RecipeError).map { if case .invalidValue(let key, _) = $0 { return key } else { return "" } },
                           "trainable.lora_modules")
        }
    }
}
