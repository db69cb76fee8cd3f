import Tokenizers

extension PromptSet {
    /// The task turn for `task` with the question filled in (nil for summarize, which takes no question).
    public func taskPrompt(_ task: ClueTask, question: String) -> String? {
        switch task {
        case .recall: return recall.filling(["question": question])
        case .rewrite: return rewrite.filling(["question": question])
        case .answer: return answer.filling(["question": question])
        case .summarize: return nil
        }
    }

    /// The question a task turn was filled with: the inverse of `taskPrompt`, for reading the questions back out of
    /// clue data (`data synth-clues` writes the filled turns, not the questions). Nil when `turn` is not `task`'s
    /// template filled in (another prompt set wrote it).
    public func question(inTaskTurn turn: String, task: ClueTask) -> String? {
        guard let template = taskPrompt(task, question: "{question}"),
              let slot = template.range(of: "{question}") else { return nil }
        let before = template[..<slot.lowerBound], after = template[slot.upperBound...]
        guard turn.count >= before.count + after.count, turn.hasPrefix(before), turn.hasSuffix(after) else { return nil }
        let question = String(turn.dropFirst(before.count).dropLast(after.count))
        return question.isEmpty ? nil : question
    }
}
