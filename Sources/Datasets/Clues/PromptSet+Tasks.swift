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
}
