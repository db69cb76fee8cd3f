import Datasets
import Foundation
import Models
import Tokenizers

/// A chat model as `ClueSynthesis`'s question writer: the request rendered with its chat template, one line sampled
/// (top-p 0.9) at `temperature`, stopping at the end of the turn or the first newline.
public enum ClueQuestionWriter {
    public static func make(model lm: LanguageModel, maxNewTokens: Int, temperature: Double) throws
        -> ClueSynthesis.QuestionWriter
    {
        guard let template = lm.chatTemplate else {
            throw DataError.badInput(source: lm.source.path, reason: "the model has no recognised chat template")
        }
        return { messages, seed in
            let ids = lm.tokenizer.encode(template.render(messages, addGenerationPrompt: true), addSpecialTokens: false)
            let parameters = GenerationParameters(
                maxNewTokens: maxNewTokens, sampling: SamplingParameters(temperature: temperature, topP: 0.9, seed: seed),
                stopTokenIds: lm.stopTokenIds)
            return firstLine(try lm.generateText(promptIds: ids, parameters: parameters, stopStrings: ["\n"]).text)
        }
    }

    /// A reply up to its first newline: the cut the local writer's stop string makes while sampling, for writers
    /// whose reply comes whole (an API).
    public static func firstLine(_ reply: String) -> String {
        reply.firstIndex(of: "\n").map { String(reply[..<$0]) } ?? reply
    }
}
