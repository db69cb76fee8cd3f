import Foundation
import Models

/// How a document is held in memory (the seed's three modes).
public enum MemoryMode: String, Codable, Sendable, CaseIterable {
    /// Activation Beacon compression: about tokens / ratio KV entries per layer.
    case beacon
    /// An ordinary instruct model writes gists of ~4K-token chunks; the gists, read in full, are the memory.
    case lite
    /// The uncompressed KV cache of a long-context model.
    case longllm
}

/// What the memory model keeps of one document: its state after reading
/// `[user: context prompt with the document][assistant: "I have read the article…"]`. Every task continues from a
/// copy of that state, so the stored memory never changes.
protocol ContextMemory: AnyObject {
    var mode: MemoryMode { get }
    /// Positions the state occupies, which the model's position budget must also fit the task prompt and reply into.
    var positions: Int { get }
    /// Key/value entries kept per layer.
    var entriesPerLayer: Int { get }

    /// Generates after `promptIds` from a copy of the state. The first `sharedPrefix` ids are a prefix that many
    /// prompts share (the clue prompts' common opening): a memory may read it once and continue every such prompt
    /// from there.
    func generate(_ lm: LanguageModel, promptIds: [Int], sharedPrefix: Int, parameters: GenerationParameters,
                  stopStrings: [String], onText: (String) -> Bool) throws -> LanguageModel.TextResult

    /// Writes the state (safetensors; atomic). `metadata` is stored alongside.
    func save(to url: URL, metadata: [String: String]) throws
}
