import Datasets
import Foundation
import Retrieval
import Tokenizers
import Torch

/// The batches of stage `clue-feedback`: rejection-sampling SFT or DPO on retrieval feedback, in rounds.
///
/// A round scores questions of the clue data with the weights the previous round left: for each question whose
/// own top `top_k` passages miss its evidence, the memory model samples `samples` clue sets from the document's
/// memory, each is scored by its gain in the evidence's reciprocal rank (`FeedbackScore`), and the best set, when
/// it gains more than `min_gain`, becomes a clue SFT example (memory + clue prompt with the question → the clue
/// lines). The round then trains `max_steps / rounds` steps on its examples, served in a seeded order reshuffled
/// every epoch: with the SFT objective (`SFTStoreSource`), or with method `dpo` as pairs preferring the best set to
/// the worst (`PreferencePairSource`, `DPOObjective`) against the weights the round started from, whose
/// log-probabilities of both replies are measured once, before the round's first step, into `reference.json`.
/// Scoring happens inside `next()`, when the first batch of a round is asked for, so every round samples from the
/// model as trained so far.
///
/// The cursor is (round, batches served in it, the round store's epoch and index); each round's scoring is saved
/// question by question under `OUTPUT_DIR/feedback/round-R/` (`FeedbackRoundScorer`), so a resumed run takes up a
/// finished round's examples and a half-scored round's scores, and sampling is seeded by (seed, round, question,
/// sample): a resumed run selects what the uninterrupted one did.
public final class ClueFeedbackSource: ReportingDataSource {
    public var report: ((TrainingEvent) throws -> Void)?
    private let recipe: Recipe
    private let settings: Recipe.Feedback
    private let context: FeedbackRoundScorer.Context
    private let compatibility: StoreCompatibility?
    private let directory: URL
    private let batchesPerRound: Int
    /// With DPO: each row's summed log-probability of its reply under the model as it is now.
    private let logProbabilities: ((TrainingBatch) throws -> [Double])?
    private var round = 0
    private var served = 0
    private var current: TrainingDataSource?
    /// The round store's position to restore when it is opened.
    private var pending: DataCursor?

    public init(recipe: Recipe, questions: ClueQuestionSet, prompts: PromptSet, embedder: Embedder,
                writer: ClueReplyWriting, tokenizer: any Tokenizer, template: ChatTemplate, tokenizerSHA256: String,
                compatibility: StoreCompatibility? = nil,
                logProbabilities: ((TrainingBatch) throws -> [Double])? = nil) throws {
        guard !questions.questions.isEmpty else {
            throw TrainingDataError.tooLittleData("\(recipe.data.train) holds no recall or rewrite examples with their "
                                                  + "passage in the document (the clue data of memorag data synth-clues)")
        }
        self.recipe = recipe
        settings = recipe.feedbackSettings
        guard settings.method != .dpo || logProbabilities != nil else {
            throw TrainingError.unsupported("feedback.method dpo needs the model's log-probabilities for its reference")
        }
        self.logProbabilities = logProbabilities
        context = FeedbackRoundScorer.Context(set: questions, settings: settings, prompts: prompts, embedder: embedder,
                                              writer: writer, tokenizer: tokenizer, template: template,
                                              tokenizerSHA256: tokenizerSHA256)
        self.compatibility = compatibility
        directory = URL(fileURLWithPath: (recipe.outputDir as NSString).expandingTildeInPath).appendingPathComponent("feedback")
        batchesPerRound = recipe.maxSteps / settings.rounds * recipe.gradAccumulation
    }

    public func next() throws -> TrainingBatch {
        if served == batchesPerRound {
            round += 1
            served = 0
            current = nil
            pending = nil
        }
        guard round < settings.rounds else {
            throw TrainingDataError.tooLittleData("all \(settings.rounds) feedback round(s) are trained (max_steps is "
                                                  + "\(recipe.maxSteps))")
        }
        if current == nil { current = try open() }
        served += 1
        return try current!.next()
    }

    public var cursor: DataCursor {
        var fields = (current?.cursor ?? pending)?.fields ?? [:]
        fields["round"] = round
        fields["served"] = served
        return DataCursor(fields)
    }

    public func restore(_ cursor: DataCursor) throws {
        guard let round = cursor["round"], let served = cursor["served"], round >= 0, round < settings.rounds,
              served >= 0, served <= batchesPerRound else {
            throw TrainingDataError.badCursor("expected a feedback 'round' below \(settings.rounds) and 'served' in "
                                              + "0…\(batchesPerRound), got \(cursor.fields)")
        }
        self.round = round
        self.served = served
        current = nil
        let inner = cursor.fields.filter { $0.key != "round" && $0.key != "served" }
        pending = inner.isEmpty ? nil : DataCursor(inner)
    }

    /// The current round's examples: scored now (or taken up from disk), reported when the round begins.
    private func open() throws -> TrainingDataSource {
        let scorer = FeedbackRoundScorer(directory: directory.appendingPathComponent("round-\(round + 1)"))
        let step = round * recipe.maxSteps / settings.rounds
        let header = FeedbackRoundScorer.Header(settings: headerSettings(round: round))
        let summary = try scorer.completed(header: header) ?? scorer.run(
            round: round + 1, rounds: settings.rounds, step: step, questions: questions(round: round),
            header: header, context: context,
            seed: { [seed = UInt64(recipe.seed), round] question, sample in
                Self.sampleSeed(seed: seed, round: round, question: question, sample: sample)
            }, progress: { try report?(.feedback($0)) })
        // Mid-round (a resume) the round's line is in metrics.jsonl already, before the checkpoint.
        if served == 0 { try report?(.feedbackRound(summary)) }
        guard summary.kept > 0 else {
            throw TrainingDataError.feedbackKeptNothing(round: round + 1, questions: summary.questions,
                                                        eligible: summary.eligible, minGain: settings.minGain)
        }
        let seed = UInt64(recipe.seed) &+ UInt64(round)
        let source: TrainingDataSource
        if settings.method == .dpo {
            source = try PreferencePairSource(chosen: scorer.keptStore, rejected: scorer.rejectedStore,
                                              reference: try reference(scorer), maxLength: recipe.data.maxLength,
                                              batchSize: recipe.batchSize, seed: seed, model: compatibility)
        } else {
            source = try SFTStoreSource(url: scorer.keptStore, maxLength: recipe.data.maxLength,
                                        batchSize: recipe.batchSize, seed: seed, model: compatibility)
        }
        if let pending { try source.restore(pending) }
        return source
    }

    /// The round's reference log-probabilities: `reference.json` when an earlier start of the run measured them
    /// (a resume mid-round must not take the partly trained weights as reference), else measured now and saved.
    private func reference(_ scorer: FeedbackRoundScorer) throws -> [PreferencePairSource.ReferencePair] {
        struct File: Codable {
            static let format = "memorag.clue-feedback.reference"
            var format = File.format
            var version = 1
            var pairs: [PreferencePairSource.ReferencePair]
        }
        let url = scorer.directory.appendingPathComponent("reference.json")
        if let data = FileManager.default.contents(atPath: url.path) {
            guard let file = try? JSONDecoder().decode(File.self, from: data), file.format == File.format,
                  file.version == 1 else {
                throw TrainingError.checkpoint(path: url.path, reason: "not a clue-feedback reference file; delete it "
                                               + "to measure the reference again (only before the round's first step)")
            }
            return file.pairs
        }
        let pairs = try PreferencePairSource.referenceLogProbs(chosen: scorer.keptStore, rejected: scorer.rejectedStore,
                                                              maxLength: recipe.data.maxLength, model: compatibility,
                                                              logProbabilities: logProbabilities!)
        try DurableFile.write(try FeedbackRoundScorer.encoder().encode(File(pairs: pairs)), to: url)
        return pairs
    }

    /// The round's questions: all, or `questions_per_round` of them drawn for the round; grouped by document (in
    /// order of first appearance) so each document's memory is made once.
    func questions(round: Int) -> [Int] {
        let all = Array(context.set.questions.indices)
        let chosen = settings.questionsPerRound.map {
            ClueSynthesis.sample(all, count: $0, seed: UInt64(recipe.seed) ^ (UInt64(round + 1) &* 0x9E37_79B9_7F4A_7C15))
        } ?? all
        var order: [String] = [], groups: [String: [Int]] = [:]
        for index in chosen {
            let id = context.set.questions[index].contextID
            if groups[id] == nil { order.append(id) }
            groups[id, default: []].append(index)
        }
        return order.flatMap { groups[$0]! }
    }

    /// Every setting a round's scores depend on: a resume with others is refused rather than mixed.
    private func headerSettings(round: Int) -> [String: String] {
        let s = settings
        return ["seed": "\(recipe.seed)", "method": s.method.rawValue, "round": "\(round + 1)", "data": recipe.data.train,
                "questions": "\(context.set.questions.count)", "clue_task": s.clueTask.rawValue,
                "samples": "\(s.samples)", "temperature": "\(s.temperature)", "top_p": "\(s.topP)",
                "repetition_penalty": "\(s.repetitionPenalty)", "max_new_tokens": "\(s.maxNewTokens)",
                "ratio": "\(s.ratio)", "depth": "\(s.depth)", "query_weight": "\(s.queryWeight)", "top_k": "\(s.topK)",
                "min_gain": "\(s.minGain)", "questions_per_round": s.questionsPerRound.map { "\($0)" } ?? "all",
                "retriever": s.retriever ?? "default", "prompts": s.prompts ?? "built-in en"]
    }

    /// The sampling seed of one clue set: a pure function of (recipe seed, round, question, sample).
    static func sampleSeed(seed: UInt64, round: Int, question: Int, sample: Int) -> UInt64 {
        var rng = SplitMix64(seed: seed &+ UInt64(round) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(question) &* 0xBF58_476D_1CE4_E5B9
                                 &+ UInt64(sample) &* 0x94D0_49BB_1331_11EB)
        return rng.next()
    }
}
