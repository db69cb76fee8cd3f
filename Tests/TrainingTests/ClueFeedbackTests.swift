import Datasets
import Foundation
import Models
import Retrieval
import TestSupport
import TinyModels
import Tokenizers
import Torch
import XCTest

@testable import Training

/// Stage clue-feedback: the scoring by hand, a run that keeps and discards questions by their clue sets' gain, and
/// a resume that selects what the uninterrupted run did.
final class ClueFeedbackTests: XCTestCase {
    /// Reciprocal ranks worked by hand (RRF constant 60). The question's ranking is [4, 7, 2, 8, 3]; its first
    /// 3 (depth) fuse at weight 3 with the clue lists [9, 4, 1] and [9, 5, 7] at weight 1:
    ///   4: 3/61 + 1/62 = .0653   7: 3/62 + 1/63 = .0643   2: 3/63 = .0476   9: 1/61 + 1/61 = .0328
    ///   5: 1/62 = .0161          1: 1/63 = .0159
    /// so the fused ranking is [4, 7, 2, 9, 5, 1].
    func testScoringByHand() {
        let question = [4, 7, 2, 8, 3], clues = [[9, 4, 1], [9, 5, 7]]
        XCTAssertEqual(FeedbackScore.fused(question: [4, 7, 2], clues: clues, queryWeight: 3), [4, 7, 2, 9, 5, 1])
        func score(_ evidence: Set<Int>, topK: Int = 5, clues: [[Int]] = clues) -> FeedbackScore.Result {
            FeedbackScore.score(question: question, clues: clues, evidence: evidence, queryWeight: 3, depth: 3, topK: topK)
        }
        // The clues bring passage 9 into the budget at rank 4; the question alone misses it.
        XCTAssertEqual(score([9]), .init(baseline: 0, withClues: 0.25))
        XCTAssertEqual(score([9]).gain, 0.25)
        // With a budget of 3 passages rank 4 counts for nothing.
        XCTAssertEqual(score([9], topK: 3).gain, 0)
        // Either of two evidence passages counts, the better placed one.
        XCTAssertEqual(score([1, 5]), .init(baseline: 0, withClues: 0.2))
        // The question's 4th passage is in its own budget but not in the fusion (depth 3): a loss of 1/4.
        XCTAssertEqual(score([8]).gain, -0.25)
        // No clue lines leave the question's order: no gain.
        XCTAssertEqual(score([2], clues: []), .init(baseline: 1.0 / 3, withClues: 1.0 / 3))
        XCTAssertEqual(FeedbackScore.reciprocalRank(of: [2], in: [4, 7, 2], topK: 2), 0)
        XCTAssertEqual(FeedbackScore.reciprocalRank(of: [4], in: [4, 7, 2], topK: 2), 1)
    }

    // MARK: - A run with scripted clue sets and the real retriever

    /// Ten paragraphs on unrelated things, each long enough (about 150 word pieces) to be a passage of its own.
    static let topics = [
        "The lighthouse keeper trimmed the wick of the great lamp every evening and kept the oil cans full for the storms.",
        "The bees in the white hives on the hills made a dark heather honey, and the honey won first prize at the county fair.",
        "The baker lit his brick ovens before dawn and sold rye loaves and sweet buns to the workers on their way to the mill.",
        "The blacksmith hammered red hot iron into horseshoes and nails, and farmers waited by his forge with their horses.",
        "The ferryman rowed travellers across the wide brown river and charged two copper coins for each crossing.",
        "The schoolteacher taught the village children their letters and sums on slates in the cold room above the chapel.",
        "In autumn the orchard was full of pickers filling baskets with red apples that were pressed into cider in the barn.",
        "The watchmaker climbed the clock tower to mend the rusted gears, and the bells rang on the hour again after years.",
        "The fishermen mended their nets on the quay and sailed out at night, coming back at dawn with boats full of herring.",
        "On market day the cheese sellers set out wheels of hard yellow cheese and soft goat cheese wrapped in nettle leaves.",
    ]
    static let document = topics.map { sentence in
        let variant = sentence.replacingOccurrences(of: "The ", with: "Every day the ")
        return [sentence, variant, sentence, "People still talk about it.", sentence, variant, sentence, variant]
            .joined(separator: " ")
    }.joined(separator: "\n\n")

    /// Clue data (`data synth-clues` format) with recall questions on `document`.
    static func writeClueData(_ questions: [(question: String, topic: Int)], to file: URL) throws {
        let prompts = try PromptSet.builtIn("en")
        let paragraphs = document.components(separatedBy: "\n\n")
        var lines = [try ClueSynthesis.contextLine(document: document, source: "village.txt")]
        for q in questions {
            lines.append(try ClueSynthesis.exampleLine(task: .recall, question: q.question, target: paragraphs[q.topic],
                                                       document: document, source: "village.txt", prompts: prompts))
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file)
    }

    /// Replies fixed per question (one per sampled set), whatever the seed; counts the questions asked.
    final class ScriptedWriter: ClueReplyWriting {
        let replies: [String: [String]]
        var asked: [String] = []
        init(_ replies: [String: [String]]) { self.replies = replies }
        func replies(contextID: String, document: String, question: String, seeds: [UInt64]) throws -> [String] {
            asked.append(question)
            return Array(replies[question, default: []].prefix(seeds.count))
        }
    }

    /// The installed all-MiniLM-L6-v2 (the pipeline's retriever), or a failure that says how to install it.
    func installedMiniLM() -> URL? {
        let retriever = InstalledModels.miniLM
        guard FileManager.default.fileExists(atPath: retriever.appendingPathComponent("model.safetensors").path) else {
            XCTFail("all-MiniLM-L6-v2 is not installed at \(retriever.path): run scripts/fetch-models.sh")
            return nil
        }
        return retriever
    }

    /// The three questions of the scripted runs, and the tower clue that lifts the first one's evidence.
    static let kept = "Which colour was the king's carriage?", discarded = "How tall was the queen's hat?"
    static let found = "How much did the ferryman charge travellers to row them across the river?"
    static let towerClue = "The watchmaker mended the rusted gears of the clock tower so that its bells rang again."

    /// A one-round run of `recipes/clue-feedback.yaml` on the tiny memory model in `root`, with clue sets scripted
    /// per question (three each for the first two; the third finds its evidence alone) and the real retriever.
    func scriptedRun(in root: URL, retriever: URL, overrides: [String] = []) throws -> (Trainer, ScriptedWriter) {
        let model = root.appendingPathComponent("model"), clues = root.appendingPathComponent("clues.jsonl")
        try TinyModels.writeMemoryModel(to: model)
        try Self.writeClueData([(Self.kept, 7), (Self.discarded, 3), (Self.found, 4)], to: clues)
        let writer = ScriptedWriter([
            Self.kept: ["yes", "1. " + Self.towerClue + "\n2. " + Self.towerClue,
                        "I have read the article. Please provide your question."],
            Self.discarded: ["ok", "no idea", "the hat"],
            Self.found: ["The ferryman charged two coins."],
        ])
        let recipe = try RecipeLoader.load(file: recipesDirectory.appendingPathComponent("clue-feedback.yaml"), overrides: [
            "model.path=\(model.path)", "data.train=\(clues.path)", "output_dir=\(root.appendingPathComponent("run").path)",
            "feedback.retriever=\(retriever.path)", "feedback.samples=3", "feedback.rounds=1", "~feedback.questions_per_round",
            "max_steps=2", "trainable.mode=full", "checkpoint.every=1", "schedule.warmup_steps=0", "optimizer.lr=1e-3",
            "threads=1",
        ] + overrides)
        let tokenizer = try LanguageModel.tokenizer(at: model)
        let template = try XCTUnwrap(try LanguageModel.chatTemplate(at: model))
        let sha = SHA256.hex(try Data(contentsOf: model.appendingPathComponent("tokenizer.json")))
        let prompts = try PromptSet.builtIn("en")
        let embedder = try Embedder(directory: retriever)
        var trainer: Trainer?
        trainer = try TrainingSetup.makeTrainer(recipe: recipe, data: { path, recipe, _ in
            try ClueFeedbackSource(recipe: recipe, questions: try ClueQuestionSet.read(URL(fileURLWithPath: path), prompts: prompts),
                                   prompts: prompts, embedder: embedder, writer: writer, tokenizer: tokenizer,
                                   template: template, tokenizerSHA256: sha,
                                   // With method dpo: the trained model's own measure (called once the trainer exists).
                                   logProbabilities: { batch in
                                       try (trainer!.objective as! DPOObjective).base.logProbabilities(batch)
                                   })
        })
        return (trainer!, writer)
    }

    /// Method rejection-sampling: a question trains on its best clue set as an SFT example.
    func testARoundKeepsTheQuestionsWhoseBestClueSetGains() throws {
        guard let retriever = installedMiniLM() else { return }
        let root = try temporaryDirectory("clue-feedback")
        defer { try? FileManager.default.removeItem(at: root) }
        let (kept, discarded, found, towerClue) = (Self.kept, Self.discarded, Self.found, Self.towerClue)
        // The first two questions miss their "evidence" alone, the third is the ferry paragraph's own question.
        let embedder = try Embedder(directory: retriever)
        let passages = try FeedbackPassages(document: Self.document, source: "village.txt", embedder: embedder)
        let paragraphs = Self.document.components(separatedBy: "\n\n")
        XCTAssertEqual(passages.chunks.count, 10, "one passage per paragraph")
        func ownTop5(_ question: String, _ topic: Int) throws -> [Int] { try passages.search([question], depth: 5)[0] }
        XCTAssertEqual(passages.evidence(paragraphs[7], in: Self.document), [7])
        let keptOwn = try ownTop5(kept, 7), discardedOwn = try ownTop5(discarded, 3)
        XCTAssertFalse(keptOwn.contains(7), "\(keptOwn)")
        XCTAssertFalse(discardedOwn.contains(3), "\(discardedOwn)")
        XCTAssertEqual(try ownTop5(found, 4).first, 4)

        let (trainer, writer) = try scriptedRun(in: root, retriever: retriever,
                                                overrides: ["feedback.method=rejection-sampling"])
        let prompts = try PromptSet.builtIn("en")
        let before = try TinyRun.parameters(trainer.objective.model)["model.layers.0.self_attn.q_proj.weight"]!.toArray(Float.self)
        var progress: [ClueFeedbackProgress] = [], rounds: [ClueFeedbackRound] = []
        try trainer.run { event in
            if case .feedback(let p) = event { progress.append(p) }
            if case .feedbackRound(let r) = event { rounds.append(r) }
        }

        XCTAssertEqual(writer.asked, [kept, discarded], "no clues are sampled for a question that finds its evidence")
        XCTAssertEqual(progress.map(\.scored), [1, 2, 3])
        XCTAssertEqual(progress.last, ClueFeedbackProgress(round: 1, rounds: 1, scored: 3, total: 3, eligible: 2, kept: 1,
                                                           meanKeptGain: 0.25))
        let round = try XCTUnwrap(rounds.first)
        XCTAssertEqual(rounds.count, 1)
        XCTAssertEqual([round.questions, round.eligible, round.kept, round.step], [3, 2, 1, 0])
        // Best gains 0.25 and 0; the six sampled sets: 0, 0.25, 0 and 0, 0, 0.
        XCTAssertEqual(round.meanBestGain, 0.125, accuracy: 1e-12)
        XCTAssertEqual(round.meanSampleGain, 0.25 / 6, accuracy: 1e-12)
        XCTAssertEqual(round.meanKeptGain, 0.25, accuracy: 1e-12)

        let dir = root.appendingPathComponent("run/feedback/round-1")
        let scored = try String(contentsOf: dir.appendingPathComponent("scores.jsonl"), encoding: .utf8)
            .split(separator: "\n").dropFirst()
            .map { try JSONDecoder().decode(FeedbackRoundScorer.Scored.self, from: Data($0.utf8)) }
        XCTAssertEqual(scored.map(\.gains), [[0, 0.25, 0], [0, 0, 0], []])
        XCTAssertEqual(scored.map(\.kept), [true, false, false])
        XCTAssertEqual(scored[0].clues, [towerClue], "list markers stripped, the repeat and the echo dropped")
        XCTAssertEqual(scored[2].baseline, 1, "the ferry question's own first passage is its evidence")
        // The kept example is clue SFT data: the document, then the rewrite prompt with the question → the clues.
        let keptLines = try String(contentsOf: dir.appendingPathComponent("kept.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(keptLines.count, 2)
        XCTAssertEqual(String(keptLines[1]), try ClueSynthesis.exampleLine(task: .rewrite, question: kept, target: towerClue,
                                                                          document: Self.document, source: "village.txt",
                                                                          prompts: prompts))
        XCTAssertEqual(try SFTStore(url: dir.appendingPathComponent("kept.h5")).exampleCount, 1)
        // metrics.jsonl: the round's line, then a line per step; the model trained on the kept example.
        let metrics = try TinyRun.metrics(root.appendingPathComponent("run"))
        XCTAssertEqual(metrics.first?["feedback_round"] as? Int, 1)
        XCTAssertEqual(metrics.first?["kept"] as? Int, 1)
        XCTAssertEqual(metrics.dropFirst().compactMap { $0["loss"] as? Double }.count, 2)
        XCTAssertEqual(trainer.step, 2)
        let after = try TinyRun.parameters(trainer.objective.model)["model.layers.0.self_attn.q_proj.weight"]!.toArray(Float.self)
        XCTAssertNotEqual(before, after)
    }

    /// Method dpo: the kept question's best clue set is preferred to its worst. The pair's replies are stored in the
    /// same order (kept.h5, rejected.h5), the round's starting weights give the reference (reference.json), so the
    /// first step's loss is exactly log 2, and the next step's is lower: the model moved towards the better set.
    func testADPORoundPrefersTheBestClueSetToItsWorst() throws {
        guard let retriever = installedMiniLM() else { return }
        let root = try temporaryDirectory("clue-feedback-dpo")
        defer { try? FileManager.default.removeItem(at: root) }
        let (trainer, writer) = try scriptedRun(in: root, retriever: retriever,
                                                overrides: ["feedback.method=dpo", "feedback.beta=0.5"])
        XCTAssertTrue(trainer.objective is DPOObjective)
        try trainer.run()
        XCTAssertEqual(writer.asked, [Self.kept, Self.discarded])

        let dir = root.appendingPathComponent("run/feedback/round-1")
        let scored = try String(contentsOf: dir.appendingPathComponent("scores.jsonl"), encoding: .utf8)
            .split(separator: "\n").dropFirst()
            .map { try JSONDecoder().decode(FeedbackRoundScorer.Scored.self, from: Data($0.utf8)) }
        XCTAssertEqual(scored.map(\.kept), [true, false, false], "the hat question's sets all gain 0: no preference")
        XCTAssertEqual(scored[0].clues, [Self.towerClue])
        // The first of the worst sets (gains 0, 0.25, 0) is "yes", which holds no clue line: the rejected reply is
        // empty, so the pair teaches the model not to stop before a clue.
        XCTAssertEqual(scored[0].rejected, [])
        let prompts = try PromptSet.builtIn("en")
        let rejectedLines = try String(contentsOf: dir.appendingPathComponent("rejected.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(String(rejectedLines[1]), try ClueSynthesis.exampleLine(
            task: .rewrite, question: Self.kept, target: "", document: Self.document, source: "village.txt", prompts: prompts))
        XCTAssertEqual(try SFTStore(url: dir.appendingPathComponent("kept.h5")).exampleCount, 1)
        XCTAssertEqual(try SFTStore(url: dir.appendingPathComponent("rejected.h5")).exampleCount, 1)
        let reference = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("reference.json"))) as? [String: Any])
        let pairs = try XCTUnwrap(reference["pairs"] as? [[String: Double]])
        XCTAssertEqual(pairs.count, 1)
        XCTAssertLessThan(pairs[0]["chosen"]!, pairs[0]["rejected"]!, "the long tower clue is less likely than a stop")

        let losses = try TinyRun.metrics(root.appendingPathComponent("run")).compactMap { $0["loss"] as? Double }
        XCTAssertEqual(losses.count, 2)
        XCTAssertEqual(losses[0], Foundation.log(2.0), accuracy: 1e-5, "policy = reference at the round's start")
        XCTAssertLessThan(losses[1], losses[0], "one step moves towards the preferred set")
    }

    // MARK: - Held-out retrieval, as `memorag adapt` measures it

    /// The evaluation counts a question as found where the evidence is within the budget: by the question alone
    /// (the ferry question, rank 1), with clues (the tower clue lifts the carriage question's evidence to rank 4, as
    /// in the run above), or neither (the hat question); a question whose passage is in no document is skipped, and
    /// each is asked over the document that holds its passage, whichever comes first in the list.
    func testRetrievalEvaluationCountsTheQuestionAloneAndTheFusedRanking() throws {
        guard let retriever = installedMiniLM() else { return }
        let root = try temporaryDirectory("clue-retrieval")
        defer { try? FileManager.default.removeItem(at: root) }
        let clues = root.appendingPathComponent("clues.jsonl")
        let lifted = "Which colour was the king's carriage?", missed = "How tall was the queen's hat?"
        let found = "How much did the ferryman charge travellers to row them across the river?"
        try Self.writeClueData([(lifted, 7), (missed, 3), (found, 4)], to: clues)
        let prompts = try PromptSet.builtIn("en")
        var questions = try ClueQuestionSet.read(clues, prompts: prompts).questions
        var stray = questions[1]
        stray.evidence = "A paragraph that is in no document."
        questions.insert(stray, at: 0)
        let towerClue = "The watchmaker mended the rusted gears of the clock tower so that its bells rang again."
        let writer = ScriptedWriter([lifted: ["1. " + towerClue + "\n2. " + towerClue], missed: ["the hat"],
                                     found: ["The ferryman charged two coins."]])
        var lines: [String] = []
        let result = try ClueRetrievalEvaluation.run(
            questions: questions, documents: [("notes.txt", "Nothing here."), ("village.txt", Self.document)], limit: 10,
            writer: writer, embedder: try Embedder(directory: retriever), prompts: prompts,
            settings: Recipe.Feedback()) { lines.append($0) }
        XCTAssertEqual(writer.asked, [lifted, missed, found], "one greedy reply per question, every question")
        XCTAssertEqual(result.questions, 3)
        XCTAssertEqual(result.skipped, 1)
        XCTAssertEqual(result.topK, 5)
        XCTAssertEqual(result.questionAlone, 1)
        XCTAssertEqual(result.withClues, 2)
        XCTAssertEqual(result.questionAloneMRR, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(result.withCluesMRR, (0.25 + 0 + 1) / 3, accuracy: 1e-12)
        XCTAssertEqual(lines.last, "retrieval 3/3: evidence in top 5: question alone 1, with clues 2")

        // The limit counts questions that are placed; an empty list measures nothing.
        let first = try ClueRetrievalEvaluation.run(
            questions: questions, documents: [("village.txt", Self.document)], limit: 1, writer: writer,
            embedder: try Embedder(directory: retriever), prompts: prompts, settings: Recipe.Feedback())
        XCTAssertEqual([first.questions, first.skipped, first.withClues, first.questionAlone], [1, 1, 1, 0])
        let none = try ClueRetrievalEvaluation.run(
            questions: [], documents: [], limit: 5, writer: writer, embedder: try Embedder(directory: retriever),
            prompts: prompts, settings: Recipe.Feedback())
        XCTAssertEqual([none.questions, none.withClues], [0, 0])
        XCTAssertEqual(none.withCluesRecall, 0)
    }

    // MARK: - Resume with the model's own clue sets

    /// Throws at the `limit`-th question it is asked (a process killed mid-round), passing the others through.
    final class InterruptingWriter: ClueReplyWriting {
        struct Killed: Error {}
        let inner: ClueReplyWriting
        let limit: Int
        var calls = 0
        init(_ inner: ClueReplyWriting, limit: Int) {
            self.inner = inner
            self.limit = limit
        }
        func replies(contextID: String, document: String, question: String, seeds: [UInt64]) throws -> [String] {
            calls += 1
            if calls == limit { throw Killed() }
            return try inner.replies(contextID: contextID, document: document, question: question, seeds: seeds)
        }
        func startRound() { inner.startRound() }
    }

    /// Two rounds of the recipe's default method (DPO) with the tiny memory model writing its own clue sets (sampled,
    /// seeded; random words that the real retriever places somewhere). A run killed in the middle of round 2's
    /// scoring and resumed scores, keeps, measures the reference for and trains exactly what an uninterrupted run
    /// does: round 2 samples from the weights round 1 trained, restored from the checkpoint.
    func testResumeAfterAnInterruptionSelectsWhatTheUninterruptedRunDid() throws {
        guard let retriever = installedMiniLM() else { return }
        let root = try temporaryDirectory("clue-feedback-resume")
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model"), clues = root.appendingPathComponent("clues.jsonl")
        try TinyModels.writeMemoryModel(to: model)
        try Self.writeClueData((0..<20).map { i in
            ("What happened with the \(["bees", "ferry", "clock", "nets", "cheese"][i % 5]) in part \(i)?", i % 10)
        }, to: clues)
        func recipe(_ run: String, resume: Bool = false, samples: Int = 4) throws -> Recipe {
            try RecipeLoader.load(file: recipesDirectory.appendingPathComponent("clue-feedback.yaml"), overrides: [
                "model.path=\(model.path)", "data.train=\(clues.path)",
                "output_dir=\(root.appendingPathComponent(run).path)", "feedback.retriever=\(retriever.path)",
                "feedback.samples=\(samples)", "feedback.max_new_tokens=24", "feedback.depth=2", "feedback.top_k=4",
                "feedback.rounds=2",
                "~feedback.questions_per_round", "max_steps=2", "trainable.mode=full", "checkpoint.every=1",
                "schedule.warmup_steps=0", "optimizer.lr=1e-2", "threads=1", "resume=\(resume)",
            ])
        }
        func trainer(_ recipe: Recipe, interruptAt limit: Int? = nil) throws -> Trainer {
            let source = try ModelSource.load(path: recipe.model.path, dtype: .float32)
            let objective = try TrainingSetup.defaultObjective(recipe, source)
            let data = try TrainingSetup.clueFeedbackSource(recipe, source) { writer in
                limit.map { InterruptingWriter(writer, limit: $0) } ?? writer
            }
            return try Trainer(recipe: recipe, objective: objective, data: data, extraFiles: source.files)
        }

        var rounds: [ClueFeedbackRound] = []
        try trainer(try recipe("whole")).run { if case .feedbackRound(let r) = $0 { rounds.append(r) } }
        XCTAssertEqual(rounds.map(\.round), [1, 2])
        XCTAssertTrue(rounds.allSatisfy { $0.kept > 0 }, "each round keeps a question (else it cannot train): \(rounds)")
        XCTAssertGreaterThanOrEqual(rounds[1].eligible, 2, "round 2 must sample for two questions to be cut between them")

        // Killed at round 2's second question with clue sets (the writer is asked once per such question), after
        // the checkpoint of step 1, round 1's only step.
        XCTAssertThrowsError(try trainer(try recipe("cut"), interruptAt: rounds[0].eligible + 2).run()) { error in
            XCTAssertTrue(error is InterruptingWriter.Killed, "\(error)")
        }
        let cutRound = root.appendingPathComponent("cut/feedback/round-2")
        let partial = try String(contentsOf: cutRound.appendingPathComponent("scores.jsonl"), encoding: .utf8)
        XCTAssertGreaterThanOrEqual(partial.split(separator: "\n").count, 2, "a header and at least one scored question")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cutRound.appendingPathComponent("summary.json").path))
        // Resuming with other sampling would mix two selections in one round: refused, naming the setting.
        XCTAssertThrowsError(try trainer(try recipe("cut", resume: true, samples: 3)).run()) { error in
            XCTAssertTrue(error.localizedDescription.contains("samples: 4 → 3"), error.localizedDescription)
        }
        var resumedRounds: [ClueFeedbackRound] = []
        try trainer(try recipe("cut", resume: true)).run { if case .feedbackRound(let r) = $0 { resumedRounds.append(r) } }
        XCTAssertEqual(resumedRounds.map(\.round), [2])

        for file in ["round-1/scores.jsonl", "round-1/kept.jsonl", "round-1/reference.json", "round-2/scores.jsonl",
                     "round-2/kept.jsonl", "round-2/rejected.jsonl", "round-2/reference.json"] {
            let whole = try Data(contentsOf: root.appendingPathComponent("whole/feedback/\(file)"))
            let cut = try Data(contentsOf: root.appendingPathComponent("cut/feedback/\(file)"))
            XCTAssertEqual(whole, cut, file)
        }
        let whole = try SafetensorsCheckpoint(directory: root.appendingPathComponent("whole/step-2")).tensors()
        let cut = try SafetensorsCheckpoint(directory: root.appendingPathComponent("cut/step-2")).tensors()
        XCTAssertEqual(Set(whole.keys), Set(cut.keys))
        for (name, tensor) in whole {
            XCTAssertEqual(try tensor.toArray(Float.self), try cut[name]!.toArray(Float.self), name)
        }
    }
}
