import Foundation
import Models
import Tokenizers

/// The memory model with its conversation format: how a document becomes a memory prompt, and how a task turn is
/// put after it. The memory is `[user: context prompt(document)] [assistant: "I have read the article…"]`; each
/// task is one more user turn with the generation prompt, continuing from a copy of the memorized state.
struct MemoryModel {
    let lm: LanguageModel
    let template: ChatTemplate

    init(_ lm: LanguageModel) throws {
        guard let template = lm.chatTemplate else {
            throw MemoRAGError.invalidArgument("\(lm.source.path) has no recognised chat template; a memory model "
                + "must be an instruct model (ChatML or Mistral [INST] format)")
        }
        self.lm = lm
        self.template = template
    }

    /// Token ids of the memory prompt for `document` (the text the memory is formed from).
    func memoryPromptIds(document: String, prompts: PromptSet) -> [Int] {
        let text = template.render([.user(prompts.context.filling(["context": document])),
                                    .assistant(prompts.memoryReply)], addGenerationPrompt: false)
        return lm.tokenizer.encode(text, addSpecialTokens: false)
    }

    /// Token ids of one task turn that continues the memorized conversation.
    func taskPromptIds(_ instruction: String) -> [Int] {
        let text = template.render([.user(instruction)], addGenerationPrompt: true, continuing: true)
        return lm.tokenizer.encode(text, addSpecialTokens: false)
    }

    /// Token ids of a standalone chat prompt (no memory before it).
    func chatPromptIds(_ instruction: String) -> [Int] {
        lm.tokenizer.encode(template.render([.user(instruction)], addGenerationPrompt: true), addSpecialTokens: false)
    }

    /// Greedy, as MemoRAG decodes, with `repetitionPenalty` (1 = off) because small memory models otherwise loop on
    /// one line until the token limit.
    func parameters(maxNewTokens: Int, repetitionPenalty: Double,
                    constraint: SpanCopyConstraint? = nil) -> GenerationParameters {
        GenerationParameters(maxNewTokens: maxNewTokens,
                             sampling: SamplingParameters(temperature: 0, repetitionPenalty: repetitionPenalty),
                             stopTokenIds: lm.stopTokenIds, constraint: constraint)
    }

    /// Runs `instruction` as a task turn after `memory` (greedy); the stored memory is not changed. The first
    /// `sharedOpening` ids of its task turn open other task turns too (`commonOpening`): the memory may keep them
    /// read (see `ContextMemory.generate`).
    func run(_ instruction: String, after memory: any ContextMemory, sharedOpening: Int = 0, maxNewTokens: Int,
             repetitionPenalty: Double = 1, constraint: SpanCopyConstraint? = nil,
             onText: (String) -> Bool = { _ in true }) throws -> String {
        let ids = taskPromptIds(instruction)
        try checkBudget(prompt: ids.count, memory: memory.positions, maxNewTokens: maxNewTokens)
        return try memory.generate(lm, promptIds: ids, sharedPrefix: sharedOpening,
                                   parameters: parameters(maxNewTokens: maxNewTokens, repetitionPenalty: repetitionPenalty,
                                                          constraint: constraint),
                                   stopStrings: [], onText: onText).text
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `instruction` as a fresh conversation, without memory.
    func runWithoutMemory(_ instruction: String, maxNewTokens: Int, repetitionPenalty: Double = 1,
                          constraint: SpanCopyConstraint? = nil,
                          onText: (String) -> Bool = { _ in true }) throws -> String
    {
        let ids = chatPromptIds(instruction)
        try checkBudget(prompt: ids.count, memory: 0, maxNewTokens: maxNewTokens)
        return try lm.generateText(promptIds: ids,
                                   parameters: parameters(maxNewTokens: maxNewTokens, repetitionPenalty: repetitionPenalty,
                                                          constraint: constraint),
                                   onText: onText)
            .text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How many leading ids the task turns of all `instructions` have in common.
    func commonOpening(_ instructions: [String]) -> Int {
        let turns = instructions.map(taskPromptIds)
        guard let first = turns.first else { return 0 }
        return turns.dropFirst().map { zip(first, $0).prefix { $0 == $1 }.count }.min() ?? first.count
    }

    /// Positions left for a prompt after `memory` positions and `maxNewTokens` of reply.
    func promptBudget(memory: Int, maxNewTokens: Int) -> Int {
        lm.model.config.maxPositionEmbeddings - memory - maxNewTokens
    }

    func checkBudget(prompt: Int, memory: Int, maxNewTokens: Int) throws {
        let budget = promptBudget(memory: memory, maxNewTokens: maxNewTokens)
        guard prompt <= budget else {
            throw MemoRAGError.tooLong("the prompt has \(prompt) tokens but only \(max(0, budget)) positions are left "
                + "(\(lm.model.config.maxPositionEmbeddings) in all, \(memory) taken by the memory, \(maxNewTokens) "
                + "kept for the reply)")
        }
    }
}
