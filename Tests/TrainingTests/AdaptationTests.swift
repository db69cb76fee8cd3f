import Datasets
import Foundation
import Models
import TestSupport
import TinyModels
import Tokenizers
import Torch
import Training
import XCTest

/// `memorag adapt` end to end on a tiny model: a random Llama base with a trained BPE tokenizer and a ChatML
/// template, a beacon delta over it as the starting model (the shipped model's layout), and a folder holding one
/// book excerpt (the README demo's case: its last paragraphs are held out).
final class AdaptationTests: XCTestCase {
    /// The first chapter of Examples/alice.txt.
    static let book: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/alice.txt")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return String(text.prefix(9000))
    }()

    static let settings = BeaconSettings(window: 16, ratios: [2, 4], ratioMix: "step-random")

    /// Tiny budgets over recipes/adapt.yaml (so the shipped config and its stage recipes are what runs).
    static let overrides = [
        "split.held_out_fraction=0.3", "clues.contexts=3", "clues.held_out_contexts=1", "clues.passages=3",
        "clues.context_tokens=400", "clues.max_new_tokens=6", "pretrain.max_steps=3", "pretrain.min_length=40",
        "pretrain.max_length=56", "pretrain.ratios=[2,4]", "pretrain.lr=0.01", "pretrain.warmup_steps=0",
        "pretrain.checkpoint_every=2", "sft.max_steps=3", "sft.min_length=16", "sft.max_length=96", "sft.ratios=[2]", "sft.lr=0.01",
        "sft.warmup_steps=0", "sft.checkpoint_every=2", "feedback.max_steps=2", "feedback.min_length=16",
        "feedback.max_length=96", "feedback.ratios=[2]", "feedback.lr=0.01", "feedback.warmup_steps=0",
        "feedback.checkpoint_every=1",
        "feedback.overrides=[log.every=1,feedback.rounds=1,feedback.samples=3,feedback.max_new_tokens=8,feedback.ratio=2,feedback.top_k=1,feedback.depth=2]",
        "eval.length=48", "eval.segments=2", "eval.ratios=[2,4]", "eval.clue_examples=4", "eval.retrieval_questions=6",
        "export.dtype=bf16", "threads=1",
    ]

    struct Workspace {
        let root: URL
        var base: URL { root.appendingPathComponent("base") }
        var start: URL { root.appendingPathComponent("start") }
        var documents: URL { root.appendingPathComponent("docs") }
        var run: URL { root.appendingPathComponent("run") }

        init() throws {
            root = try temporaryDirectory("adapt")
            try FileManager.default.createDirectory(at: documents, withIntermediateDirectories: true)
            try Data(AdaptationTests.book.utf8).write(to: documents.appendingPathComponent("alice.txt"))
            // Tokenizer: byte-level BPE trained on the book, ChatML specials and template.
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            try TinyModels.writeChatTokenizer(to: base, texts: [AdaptationTests.book], vocabSize: 320)
            // Base: a random 2-layer Llama over that vocabulary.
            try LibTorch.manualSeed(11)
            let config = try JSONDecoder().decode(DecoderConfig.self, from: Data("""
                {"model_type": "llama", "vocab_size": 320, "hidden_size": 32, "intermediate_size": 64,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                 "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000,
                 "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 2}
                """.utf8))
            let model = try DecoderLM(config: config)
            try model.hfConfigJSON(dtype: .float32).write(to: base.appendingPathComponent("config.json"))
            try Safetensors.save(TinyRun.parameters(model), to: base.appendingPathComponent("model.safetensors"))
            // Starting model: a beacon delta over the base, as checkpoints/memorag-smollm2-135m is over the GGUF.
            try model.addBeacon(AdaptationTests.settings)
            let beacons = TinyRun.parameters(model).filter { $0.key.contains("beacon") }
            try FileManager.default.createDirectory(at: start, withIntermediateDirectories: true)
            try model.hfConfigJSON(dtype: .float32).write(to: start.appendingPathComponent("config.json"))
            try Safetensors.save(beacons, to: start.appendingPathComponent("model.safetensors"))
            let manifest: [String: Any] = ["format": BeaconDelta.manifestFormat, "version": 1, "base_model": "base",
                                           "base_path": base.path, "tensors": beacons.keys.sorted()]
            try JSONSerialization.data(withJSONObject: manifest).write(to: start.appendingPathComponent("manifest.json"))
            for name in ["tokenizer.json", "tokenizer_config.json"] {
                try FileManager.default.copyItem(at: base.appendingPathComponent(name), to: start.appendingPathComponent(name))
            }
        }

        func adaptation(_ extra: [String] = [], writer: Adaptation.WriterFactory? = AdaptationTests.questionWriter) throws
            -> Adaptation
        {
            let file = recipesDirectory.appendingPathComponent("adapt.yaml")
            let config = try AdaptationConfig.load(file: file, overrides: AdaptationTests.overrides, laterOverrides: extra)
            return try Adaptation(corpus: DomainCorpus(directory: documents), config: config, configFile: file,
                                  model: start, output: run, questionWriter: writer)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    /// A question writer that asks about the two longest words of the passage (the random tiny model's own
    /// questions are noise, which the filters reject — see `testWithoutAcceptedCluesSFTIsSkipped`).
    static func questionWriter(_: LanguageModel, _: AdaptationConfig.Clues) -> ClueSynthesis.QuestionWriter {
        { messages, _ in
            let request = messages.last!.content
            if request.hasPrefix("Rewrite") {
                let question = request.components(separatedBy: "\n\n")[1]
                return "What happens with " + (question.split(separator: " ").dropFirst(3).first.map(String.init) ?? "it") + "?"
            }
            let passage = request.components(separatedBy: "\n\n").dropFirst().first ?? ""
            let words = passage.split { !$0.isLetter }.map(String.init).sorted { $0.count > $1.count }
            return "What did the story say about \(words.first ?? "it") and \(words.dropFirst().first ?? "that")?"
        }
    }

    func testAdaptationRunsEveryStageMeasuresBeforeAndAfterAndResumes() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        var events: [Adaptation.Event] = []
        let report = try workspace.adaptation().run { events.append($0) }
        let layout = Adaptation.Layout(root: workspace.run)

        // Every stage ran; the report files exist with finite before/after losses for every setting.
        XCTAssertEqual(report.stages.map(\.stage), Adaptation.Stage.allCases.map(\.rawValue))
        XCTAssertEqual(report.pretrainSteps, 3)
        XCTAssertEqual(report.sftSteps, 3, report.markdown())
        // The questions are written by the base under the starting delta (clues.writer: base).
        XCTAssertTrue(events.contains { event in
            if case .note(let line) = event { return line.hasSuffix("/base (clues.writer: base)") }
            return false
        })
        // Clue feedback starts from SFT's checkpoint and scores the training questions; here every one finds its
        // evidence alone (short contexts, questions on the passage's own words), so the round keeps nothing, the
        // stage ends without failing the run, and SFT's checkpoint is exported.
        let feedback = try XCTUnwrap(report.stages.first { $0.stage == "clue-feedback" }?.note)
        XCTAssertTrue(feedback.hasPrefix("0 steps from step-3; round 1 kept 0 of 0 eligible (of "), feedback)
        XCTAssertTrue(feedback.hasSuffix("round 1 kept nothing, so the stage stopped at step 0"), feedback)
        XCTAssertEqual(report.feedbackSteps, 0)
        XCTAssertTrue(report.stages.first { $0.stage == "export" }!.note.hasPrefix("sft/step-3 → model/"))
        let saved = try JSONDecoder().decode(AdaptationReport.self, from: Data(contentsOf: layout.reportJSON))
        XCTAssertEqual(saved, report)
        XCTAssertTrue(try String(contentsOf: layout.reportMarkdown, encoding: .utf8).contains("| beacon r=4 |"))
        for measurement in [report.before, report.after] {
            let m = try XCTUnwrap(measurement)
            XCTAssertEqual(m.compression.map(\.ratio), [nil, 2, 4])
            XCTAssertTrue(m.compression.allSatisfy { $0.loss.isFinite && $0.tokens > 0 }, "\(m)")
            XCTAssertTrue(try XCTUnwrap(m.clueLoss).isFinite)
            let retrieval = try XCTUnwrap(m.retrieval)
            XCTAssertGreaterThan(retrieval.questions, 0)
            XCTAssertLessThanOrEqual(retrieval.questions, 6)
            XCTAssertEqual(retrieval.topK, 5, "the pipeline's budget, whatever the stage trains at")
            XCTAssertTrue((0...retrieval.questions).contains(retrieval.withClues))
        }
        // The question alone does not depend on the model: the same questions, passages and retriever.
        let (rb, ra) = (report.before!.retrieval!, report.after!.retrieval!)
        XCTAssertEqual([rb.questions, rb.questionAlone, rb.skipped], [ra.questions, ra.questionAlone, ra.skipped])
        XCTAssertEqual(rb.questionAloneMRR, ra.questionAloneMRR)
        XCTAssertTrue(report.markdown().contains("| question alone |"), report.markdown())
        // The base is frozen: full attention does not move; the beacons trained, so compressed losses do.
        XCTAssertEqual(report.before!.compression[0].loss, report.after!.compression[0].loss, accuracy: 1e-4)
        XCTAssertNotEqual(report.before!.compression[2].loss, report.after!.compression[2].loss)
        let data = try XCTUnwrap(report.data)
        XCTAssertEqual(data.heldOutDocuments, ["alice.held-out.txt"])
        XCTAssertGreaterThan(data.clueExamples, 0)
        XCTAssertGreaterThan(data.heldOutClueExamples, 0)

        // The export is a beacon delta over the tiny base (not over a run dir) that LanguageModel.load reads.
        let manifest = try XCTUnwrap(try BeaconDelta.manifest(in: layout.model))
        XCTAssertEqual(manifest.baseModel, "base")
        let adapted = try LanguageModel.load(layout.model)
        let start = try LanguageModel.load(workspace.start)
        let name = "model.beacon_embed_tokens.weight"
        let a = try TinyRun.parameters(adapted.model)[name]!.toArray(Float.self)
        let b = try TinyRun.parameters(start.model)[name]!.toArray(Float.self)
        XCTAssertNotEqual(a, b, "the adapted beacons must differ from the starting ones")

        // Held-out text never reached training: not in the store's training documents, nor in the training clues.
        let tokenizer = try loadTokenizer(directory: layout.tokenizer)
        let store = try TokenStore(url: layout.tokenStore)
        XCTAssertEqual(store.validationDocuments.count, 1)
        let trained: String = try store.trainingDocuments.map { tokenizer.decode(try store.document($0).map(Int.init), skipSpecialTokens: false) }
            .joined()
        let heldOut = try String(contentsOf: layout.heldOutText.appendingPathComponent("alice.held-out.txt"), encoding: .utf8)
        let heldOutParagraphs = heldOut.components(separatedBy: "\n\n").filter { $0.count > 40 }
        XCTAssertFalse(heldOutParagraphs.isEmpty)
        let clues = try String(contentsOf: layout.clues, encoding: .utf8)
        for paragraph in heldOutParagraphs {
            XCTAssertFalse(trained.contains(paragraph), paragraph)
            XCTAssertFalse(clues.contains(String(paragraph.prefix(60))), paragraph)
        }
        XCTAssertTrue(trained.hasPrefix(String(Self.book.prefix(300))), "the training part is the book's start")

        // Started again: every stage is complete and skipped, the report is unchanged.
        var again: [Adaptation.Event] = []
        XCTAssertEqual(try workspace.adaptation().run { again.append($0) }, report)
        XCTAssertEqual(again.filter { if case .skipped = $0 { return true } else { return false } }.count,
                       Adaptation.Stage.allCases.count)

        // As if killed after the training checkpoints were written: the stages run again and resume from them.
        let stateURL = layout.state
        var state = try JSONSerialization.jsonObject(with: Data(contentsOf: stateURL)) as! [String: Any]
        state["completed"] = Array((state["completed"] as! [String]).prefix(4))
        var stateReport = state["report"] as! [String: Any]
        stateReport["stages"] = Array((stateReport["stages"] as! [Any]).prefix(4))
        state["report"] = stateReport
        try JSONSerialization.data(withJSONObject: state).write(to: stateURL)
        var resumed: [Adaptation.Stage] = []
        let rerun = try workspace.adaptation().run { event in
            if case .training(let stage, .resumed(let step, _, _)) = event, step == 3 { resumed.append(stage) }
        }
        XCTAssertEqual(resumed, [.pretrain, .sft])
        XCTAssertEqual(rerun.after, report.after)

        // Other settings in the same run dir are refused.
        XCTAssertThrowsError(try workspace.adaptation(["pretrain.max_steps=4"])) { error in
            XCTAssertTrue(error.localizedDescription.contains("other documents, model or settings"), "\(error)")
        }
    }

    /// The random model's questions do not pass the filters: no clue examples, so SFT is skipped with a reason and
    /// the pretrained beacons are exported and measured.
    func testWithoutAcceptedCluesSFTIsSkipped() throws {
        let workspace = try Workspace()
        defer { workspace.remove() }
        let report = try workspace.adaptation(["eval.ratios=[2]"], writer: nil).run()
        XCTAssertEqual(report.data?.clueExamples, 0)
        XCTAssertEqual(report.sftSteps, 0)
        XCTAssertTrue(report.stages.first { $0.stage == "sft" }!.note.contains("no clue example was accepted"))
        XCTAssertNil(report.after?.clueLoss)
        XCTAssertTrue(try XCTUnwrap(report.after).compression.allSatisfy { $0.loss.isFinite })
        XCTAssertNotNil(try BeaconDelta.manifest(in: Adaptation.Layout(root: workspace.run).model))
    }

    func testBadFoldersAreRefusedNamingTheFile() throws {
        let dir = try temporaryDirectory("adapt-errors")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try DomainCorpus(directory: dir)) { error in
            XCTAssertTrue(error.localizedDescription.contains("no .txt or .md documents"), error.localizedDescription)
        }
        try Data("A first paragraph.\n\nA second one.".utf8).write(to: dir.appendingPathComponent("notes.md"))
        XCTAssertEqual(try DomainCorpus(directory: dir).documents.map(\.name), ["notes.md"])
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let latin1 = dir.appendingPathComponent("sub/latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: latin1)
        XCTAssertThrowsError(try DomainCorpus(directory: dir)) { error in
            XCTAssertEqual(error as? DataError, .badInput(source: latin1.path, reason: "not valid UTF-8 text (convert it, e.g. with iconv)"))
        }
        try FileManager.default.removeItem(at: latin1)
        try Data("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.".utf8)
            .write(to: dir.appendingPathComponent("sub/chapter1.txt"))
        XCTAssertThrowsError(try DomainCorpus(directory: dir)) { error in
            guard case .evaluationBook(let source, _) = error as? DataError else { return XCTFail("\(error)") }
            XCTAssertTrue(source.hasSuffix("sub/chapter1.txt"), source)
        }
    }

    /// Several documents are held out whole (seeded, at least one, never all); one document holds out its end.
    func testSplitByDocumentOrByTrailingParagraphs() throws {
        let dir = try temporaryDirectory("adapt-split")
        defer { try? FileManager.default.removeItem(at: dir) }
        let paragraphs = (0..<10).map { "Paragraph \($0) " + String(repeating: "word ", count: 20) }
        try Data(paragraphs.joined(separator: "\n\n").utf8).write(to: dir.appendingPathComponent("one.txt"))
        let (training, heldOut) = try DomainCorpus(directory: dir).split(heldOutFraction: 0.2, seed: 0)
        XCTAssertEqual(training.map(\.name), ["one.txt"])
        XCTAssertEqual(heldOut.map(\.name), ["one.held-out.txt"])
        XCTAssertEqual(heldOut[0].text, paragraphs[8...].joined(separator: "\n\n") + "\n")
        XCTAssertEqual(training[0].text, paragraphs[..<8].joined(separator: "\n\n") + "\n")

        for i in 0..<4 { try Data("Document \(i).\n\nMore.".utf8).write(to: dir.appendingPathComponent("d\(i).txt")) }
        let split = try DomainCorpus(directory: dir).split(heldOutFraction: 0.2, seed: 3)
        XCTAssertEqual(split.heldOut.count, 1)
        XCTAssertEqual(split.training.count, 4)
        XCTAssertEqual(Set((split.training + split.heldOut).map(\.name)), ["d0.txt", "d1.txt", "d2.txt", "d3.txt", "one.txt"])
    }
}
