import Foundation
import Tokenizers
import Torch

/// A question with known evidence, read back out of clue data: what the clue-feedback training stage scores clue
/// sets against.
public struct ClueQuestion: Codable, Sendable, Equatable {
    /// The `context_id` of the document the question is about (the sha256 of its text in `data synth-clues` output).
    public var contextID: String
    public var question: String
    /// The passage the question was written from, verbatim in the document.
    public var evidence: String
    /// A rewrite example's vaguer question (its reply is the specific question, whose recall example names the
    /// passage), as opposed to a recall example's own question.
    public var vague: Bool

    enum CodingKeys: String, CodingKey { case contextID = "context_id", question, evidence, vague }
}

/// The documents and questions of a clue-data JSONL file (`data synth-clues` output, docs/formats.md "SFT JSONL").
///
/// A recall example gives its question (read out of the task turn with the prompt set that wrote it) and its reply,
/// the passage, as evidence; a rewrite example gives its vague question with the passage of the recall example
/// whose question it rewrites. Examples whose evidence is not verbatim in their document (written by hand or by
/// other tools) are counted in `skipped`; answer and summarize examples carry no evidence and are passed over.
/// Questions repeated within a document are kept once. Evaluation books are refused.
public struct ClueQuestionSet: Sendable {
    /// Document text and name by context id.
    public var documents: [String: (text: String, source: String)]
    /// The recall examples' questions in file order, then the rewrite examples' vague ones.
    public var questions: [ClueQuestion]
    /// Examples whose passage could not be found (not verbatim in the document, or no recall example to name it).
    public var skipped: Int

    public static func read(_ url: URL, prompts: PromptSet) throws -> ClueQuestionSet {
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8)
        else { throw DataError.unreadable(path: url.path, reason: "cannot read it as UTF-8 text") }
        var set = ClueQuestionSet(documents: [:], questions: [], skipped: 0)
        // Rewrite examples name their passage through the recall example of the question they rewrite, which may
        // come later in the file: resolved at the end.
        var passages: [String: String] = [:]  // context id + "\n" + question → passage
        var vague: [(contextID: String, question: String, specific: String)] = []
        var seen: Set<String> = []
        func add(_ question: ClueQuestion) {
            if seen.insert(question.contextID + "\n" + question.question.lowercased()).inserted {
                set.questions.append(question)
            }
        }
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineText = raw.trimmingCharacters(in: .whitespaces)
            if lineText.isEmpty { continue }
            let source = "\(url.path):\(i + 1)"
            let line: SFTBuilder.Line
            do { line = try JSONDecoder().decode(SFTBuilder.Line.self, from: Data(lineText.utf8)) } catch {
                throw DataError.badInput(source: source, reason: "not a clue-data record: \(error)")
            }
            var contextID = line.contextID
            if let context = line.context {
                try EvaluationBooks.refuse(text: context, source: line.source ?? source)
                let id = contextID ?? SHA256.hex(context)
                set.documents[id] = (context, line.source ?? url.lastPathComponent)
                contextID = id
            }
            guard let messages = line.conversations else { continue }
            guard let contextID, let document = set.documents[contextID]?.text else {
                throw DataError.badInput(source: source, reason: "an example without a document (context_id \(line.contextID ?? "none") "
                                             + "is not declared on an earlier line)")
            }
            let task = line.task.flatMap(ClueTask.init(rawValue:))
            guard task == .recall || task == .rewrite else { continue }
            let turns = line.memoryTurns ?? 2
            guard messages.count == turns + 2, let turn = messages.dropLast().last?.content,
                  let reply = messages.last?.content else {
                throw DataError.badInput(source: source, reason: "expected the memory turns, one task turn and the reply")
            }
            guard let question = prompts.question(inTaskTurn: turn, task: task!) else {
                throw DataError.badInput(source: source, reason: "its \(task!.rawValue) turn is not the prompt set's "
                                             + "template (was the data written with other prompts?)")
            }
            if task == .recall {
                guard document.contains(reply) else { set.skipped += 1; continue }
                passages[contextID + "\n" + question] = reply
                add(ClueQuestion(contextID: contextID, question: question, evidence: reply, vague: false))
            } else {
                vague.append((contextID, question, reply))
            }
        }
        for v in vague {
            guard let passage = passages[v.contextID + "\n" + v.specific] else { set.skipped += 1; continue }
            add(ClueQuestion(contextID: v.contextID, question: v.question, evidence: passage, vague: true))
        }
        return set
    }
}
