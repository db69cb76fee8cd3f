import Datasets
import Foundation
import Retrieval
import Tokenizers

/// Does a memory model's clues find evidence the question alone misses? Measured on questions with known evidence
/// (clue data of held-out text), each asked over its whole document as the pipeline would: the document cut into
/// the pipeline's passages, the question's own top `topK` (the peer) against the ranking `ask` fills the same budget
/// from, the question's list fused with the lists of the clues the model writes greedily from the document's
/// memory (`FeedbackScore`, the scoring the clue-feedback stage trains on). `memorag adapt` reports it before and
/// after adapting.
public enum ClueRetrievalEvaluation {
    public struct Result: Codable, Sendable, Equatable {
        public var questions: Int
        /// The passage budget both sides fill.
        public var topK: Int
        /// Questions whose evidence is in the question's own top `topK` passages.
        public var questionAlone: Int
        /// Questions whose evidence is in the top `topK` of the fused ranking.
        public var withClues: Int
        /// Mean reciprocal rank of the evidence within the budget (0 where it is outside).
        public var questionAloneMRR: Double
        public var withCluesMRR: Double
        /// Questions whose passage is not verbatim in any document given (left out of the counts).
        public var skipped: Int

        enum CodingKeys: String, CodingKey {
            case questions, skipped, topK = "top_k", questionAlone = "question_alone", withClues = "with_clues"
            case questionAloneMRR = "question_alone_mrr", withCluesMRR = "with_clues_mrr"
        }

        public var questionAloneRecall: Double { questions == 0 ? 0 : Double(questionAlone) / Double(questions) }
        public var withCluesRecall: Double { questions == 0 ? 0 : Double(withClues) / Double(questions) }
    }

    /// Scores the first `limit` questions of `questions` whose evidence occurs verbatim in one of `documents` (name →
    /// text); each is asked over the first document holding it. `settings` gives the clue task, memory ratio, fusion
    /// depth, question weight and budget; the clues are written greedily (one reply per question, seed 0).
    public static func run(questions: [ClueQuestion], documents: [(name: String, text: String)], limit: Int,
                           writer: ClueReplyWriting, embedder: Embedder, prompts: PromptSet, settings: Recipe.Feedback,
                           progress: (String) -> Void = { _ in }) throws -> Result
    {
        var result = Result(questions: 0, topK: settings.topK, questionAlone: 0, withClues: 0, questionAloneMRR: 0,
                            withCluesMRR: 0, skipped: 0)
        var placed: [(question: ClueQuestion, document: Int)] = []
        for question in questions where placed.count < limit {
            guard let d = documents.firstIndex(where: { $0.text.contains(question.evidence) }) else {
                result.skipped += 1
                continue
            }
            placed.append((question, d))
        }
        // Questions grouped by document: one passage index and one memory at a time.
        placed.sort { $0.document < $1.document }
        writer.startRound()
        var passages: (document: Int, index: FeedbackPassages)?
        for (n, item) in placed.enumerated() {
            let document = documents[item.document]
            if passages?.document != item.document {
                passages = nil
                passages = (item.document, try FeedbackPassages(document: document.text, source: document.name,
                                                                 embedder: embedder))
            }
            let index = passages!.index
            let evidence = index.evidence(item.question.evidence, in: document.text)
            let own = try index.search([item.question.question], depth: max(settings.depth, settings.topK))[0]
            let reply = try writer.replies(contextID: document.name, document: document.text,
                                           question: item.question.question, seeds: [0])[0]
            let lines = ClueLines.lines(of: reply, echoing: prompts.memoryReply, question: item.question.question)
            let score = FeedbackScore.score(question: own, clues: try index.search(lines, depth: settings.depth),
                                            evidence: evidence, queryWeight: settings.queryWeight, depth: settings.depth,
                                            topK: settings.topK)
            result.questions += 1
            result.questionAlone += score.baseline > 0 ? 1 : 0
            result.withClues += score.withClues > 0 ? 1 : 0
            result.questionAloneMRR += score.baseline
            result.withCluesMRR += score.withClues
            progress(String(format: "retrieval %d/%d: evidence in top %d: question alone %d, with clues %d",
                            n + 1, placed.count, settings.topK, result.questionAlone, result.withClues))
        }
        if result.questions > 0 {
            result.questionAloneMRR /= Double(result.questions)
            result.withCluesMRR /= Double(result.questions)
        }
        return result
    }
}
