import Datasets
import Foundation
import Models
import Tokenizers
import Torch

/// Writes the clue replies the clue-feedback stage scores for one question: one reply per seed.
public protocol ClueReplyWriting: AnyObject {
    func replies(contextID: String, document: String, question: String, seeds: [UInt64]) throws -> [String]
    /// Called before each round's scoring: the model has trained since the last one, so whatever the writer kept
    /// from it (a document's memory) is stale. A writer that wraps another must pass it on.
    func startRound()
}

extension ClueReplyWriting {
    public func startRound() {}
}

/// The memory model writing clues as the pipeline asks for them: the document read into a beacon memory through
/// MemoRAG's memory turns, then the clue task's turn with the question, sampled once per seed. The memory and
/// prompt ids are those the stage's SFT examples are stored with (`SFTBuilder.tokens`), so the model trains on
/// exactly what it was sampled from. A document's memory is kept while its questions follow one another within a
/// round (a memory made before a round's training would sample from the old weights).
public final class MemoryClueWriter: ClueReplyWriting {
    private let lm: LanguageModel
    private let template: ChatTemplate
    private let prompts: PromptSet
    private let settings: Recipe.Feedback
    private var memorized: (contextID: String, memory: BeaconMemory)?

    public init(model lm: LanguageModel, prompts: PromptSet, settings: Recipe.Feedback) throws {
        guard let template = lm.chatTemplate else {
            throw TrainingError.invalidModel(path: lm.source.path, reason: "no recognised chat template: a memory model "
                                             + "must be an instruct model (ChatML or Mistral [INST] format)")
        }
        self.lm = lm
        self.template = template
        self.prompts = prompts
        self.settings = settings
    }

    /// The conversation a clue example holds before its reply (as `ClueSynthesis.exampleLine` writes it).
    func tokens(document: String, question: String) throws -> (memory: [Int], prompt: [Int]) {
        guard let turn = prompts.taskPrompt(settings.clueTask, question: question) else {
            throw TrainingError.unsupported("\(settings.clueTask.rawValue) takes no question")
        }
        let chat: [ChatMessage] = [.user(prompts.context), .assistant(prompts.memoryReply), .user(turn), .assistant("")]
        let ids = try SFTBuilder.tokens(chat, context: document, memoryTurns: 2, template: template,
                                        tokenizer: lm.tokenizer, source: "clue-feedback")
        return (ids.memory, ids.prompt)
    }

    public func startRound() { memorized = nil }

    public func replies(contextID: String, document: String, question: String, seeds: [UInt64]) throws -> [String] {
        let (memoryIds, prompt) = try tokens(document: document, question: question)
        guard prompt.count > 1 else { throw TrainingError.unsupported("the clue prompt renders to \(prompt.count) token(s)") }
        return try withNoGrad {
            if memorized?.contextID != contextID {
                memorized = nil  // the previous document's memory goes before the next one is made
                let memory = try lm.model.makeBeaconMemory(rule: .fixed(settings.ratio))
                try lm.model.memorize(memoryIds, into: memory)
                memorized = (contextID, memory)
            }
            // The prompt, less its last id, is read once; each sample continues from a copy.
            let primed = try memorized!.memory.copy()
            try lm.model.read(Array(prompt.dropLast()), into: primed)
            return try seeds.map { seed in
                let state = try primed.copy()
                let parameters = GenerationParameters(
                    maxNewTokens: settings.maxNewTokens,
                    sampling: SamplingParameters(temperature: settings.temperature, topP: settings.topP,
                                                 repetitionPenalty: settings.repetitionPenalty, seed: seed),
                    stopTokenIds: lm.stopTokenIds)
                return try lm.decodeText { onToken in
                    try lm.model.generate(promptIds: prompt, alreadyRead: prompt.count - 1, parameters: parameters,
                                          memory: state, onToken: onToken)
                }.text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
    }
}
