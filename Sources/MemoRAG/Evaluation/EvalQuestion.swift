import Foundation

/// One line of an evaluation set: a question, its short gold answers and gold passages quoted from the text.
public struct EvalQuestion: Codable, Sendable, Equatable {
    /// A stable name for reports ("pp-07"); the line number when absent.
    public var id: String?
    /// The kind of question (e.g. single, multi-hop, vague, global), for per-type figures.
    public var type: String?
    public var question: String
    public var answers: [String]?
    /// One reference, for sets that have a single answer.
    public var answer: String?
    /// Gold passages quoted verbatim from the memorized text.
    public var evidence: [String]?

    public var references: [String] { answers ?? answer.map { [$0] } ?? [] }

    /// Every question of a JSONL file (blank lines skipped); a line that is not a question object is an error
    /// naming the file and the line.
    public static func read(_ url: URL) throws -> [EvalQuestion] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MemoRAGError.invalidArgument("\(url.path): cannot read the questions: \(error.localizedDescription)")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        var questions: [EvalQuestion] = []
        for (number, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            var question: EvalQuestion
            do { question = try JSONDecoder().decode(EvalQuestion.self, from: Data(line.utf8)) } catch {
                throw MemoRAGError.invalidArgument("\(url.path):\(number + 1): not a question object: \(error)")
            }
            guard !question.question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw MemoRAGError.invalidArgument("\(url.path):\(number + 1): the question is empty")
            }
            if question.evidence?.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) == true {
                throw MemoRAGError.invalidArgument("\(url.path):\(number + 1): an evidence passage is empty")
            }
            question.id = question.id ?? "\(number + 1)"
            questions.append(question)
        }
        guard !questions.isEmpty else { throw MemoRAGError.invalidArgument("\(url.path): no questions") }
        return questions
    }
}

/// One evaluated question: the answer's scores, and how its evidence compares with the baselines.
public struct EvalRow: Codable, Sendable {
    public var id: String
    public var type: String?
    public var question: String
    public var references: [String]
    public var answer: String
    public var f1: Double
    public var rougeL: Double
    /// The best F1 a span of at most 8 words of the evidence given to the generator scores (`bestSpanF1`).
    public var f1Ceiling: Double
    public var retrieval: RetrievalComparison?
    public var result: AskResult

    public init(question: EvalQuestion, result: AskResult, retrieval: RetrievalComparison?) {
        id = question.id ?? ""
        type = question.type
        self.question = question.question
        references = question.references
        answer = result.answer
        f1 = AnswerMetrics.best(result.answer, references: references, AnswerMetrics.f1)
        rougeL = AnswerMetrics.best(result.answer, references: references, AnswerMetrics.rougeL)
        f1Ceiling = AnswerMetrics.bestSpanF1(in: result.evidence.map(\.text), references: references)
        self.retrieval = retrieval
        self.result = result
    }

    enum CodingKeys: String, CodingKey {
        case id, type, question, references, answer, f1, retrieval, result
        case rougeL = "rouge_l"
        case f1Ceiling = "f1_ceiling"
    }
}
