import Foundation
import Tokenizers
import Torch

/// `data sft`: conversation JSONL → SFT store.
///
/// Each line is one JSON object, either
/// - a **context declaration** `{"context_id": "ID", "context": "TEXT"}` (no `conversations`): a long document
///   given once and referred to by later lines, or
/// - an **example** `{"task": "recall"|"rewrite"|"answer"|"summarize", "conversations": [{"role", "content"}, …],
///   "context_id": "ID"}` (or the document inline as `"context": "TEXT"`), optionally `"memory_turns": N`.
///
/// The first `memory_turns` messages (default 2 when the example has a context — the context prompt and the model's
/// "I have read the article" reply — else 0) form the memory: the literal `{context}` in them is replaced by the
/// document, they are rendered with the tokenizer's chat template, and the tokens are stored once per distinct
/// rendering (deduplicated by sha256). The remaining messages up to the last one, with the generation prompt, are
/// the example's prompt; the last message (it must be the assistant's) plus the template's end-of-turn is the target.
public enum SFTBuilder {
    public struct Summary: Sendable {
        public var examples: Int
        public var contexts: Int
        public var contextTokens: Int
    }

    struct Message: Decodable { var role: String; var content: String }
    struct Line: Decodable {
        var task: String?
        var context: String?
        var contextID: String?
        var memoryTurns: Int?
        var conversations: [Message]?
        enum CodingKeys: String, CodingKey {
            case task, context, conversations
            case contextID = "context_id"
            case memoryTurns = "memory_turns"
        }
    }

    public static func build(input: URL, tokenizer: any Tokenizer, template: ChatTemplate, tokenizerSHA256: String,
                             output: URL, progress: (Int) -> Void = { _ in }) throws -> Summary {
        guard let data = FileManager.default.contents(atPath: input.path), let text = String(data: data, encoding: .utf8)
        else { throw DataError.unreadable(path: input.path, reason: "cannot read it as UTF-8 text") }
        let writer = try SFTStoreWriter(url: output, vocabSize: tokenizer.vocabularySize, tokenizerSHA256: tokenizerSHA256)
        writer.addSource(input.lastPathComponent)
        var declared: [String: String] = [:]
        var contextTokens = 0
        let decoder = JSONDecoder()
        for (i, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineText = rawLine.trimmingCharacters(in: .whitespaces)
            if lineText.isEmpty { continue }
            let source = "\(input.path):\(i + 1)"
            let line: Line
            do { line = try decoder.decode(Line.self, from: Data(lineText.utf8)) } catch {
                throw DataError.badInput(source: source, reason: "not a conversation record: \(error)")
            }
            guard let messages = line.conversations else {
                guard let id = line.contextID, let context = line.context else {
                    throw DataError.badInput(source: source, reason: "neither an example (conversations) nor a context "
                                                 + "declaration (context_id + context)")
                }
                try EvaluationBooks.refuse(text: context, source: source)
                declared[id] = context
                continue
            }
            guard let taskName = line.task, let task = ClueTask(rawValue: taskName) else {
                throw DataError.badInput(source: source, reason: "task must be one of "
                                             + ClueTask.allCases.map(\.rawValue).joined(separator: ", "))
            }
            var context = line.context
            if context == nil, let id = line.contextID {
                guard let c = declared[id] else {
                    throw DataError.badInput(source: source, reason: "context_id \(id) was not declared on an earlier line")
                }
                context = c
            }
            let memoryTurns = line.memoryTurns ?? (context == nil ? 0 : 2)
            guard messages.count >= memoryTurns + 1, memoryTurns >= 0 else {
                throw DataError.badInput(source: source, reason: "\(messages.count) messages leave nothing after "
                                             + "\(memoryTurns) memory turns")
            }
            guard messages.last?.role == "assistant" else {
                throw DataError.badInput(source: source, reason: "the last message must be the assistant's (the target)")
            }
            var chat = messages.map { ChatMessage(role: $0.role, content: $0.content) }
            if let context {
                for k in 0..<memoryTurns { chat[k].content = chat[k].content.replacingOccurrences(of: "{context}", with: context) }
            }
            for m in chat { try EvaluationBooks.refuse(text: m.content, source: source) }
            let memoryText = memoryTurns > 0 ? template.render(Array(chat[..<memoryTurns]), addGenerationPrompt: false) : ""
            let promptText = template.render(Array(chat.dropLast()), addGenerationPrompt: true)
            let fullText = template.render(chat, addGenerationPrompt: false)
            guard promptText.hasPrefix(memoryText), fullText.hasPrefix(promptText) else {
                throw DataError.badInput(source: source, reason: "the chat template does not render this conversation "
                                             + "as memory + prompt + target")
            }
            var contextID: Int?
            if memoryTurns > 0 {
                let key = SHA256.hex(memoryText)
                if let id = writer.contextID(forKey: key) {
                    contextID = id
                } else {
                    let ids = tokenizer.encodeLong(memoryText)
                    contextTokens += ids.count
                    contextID = try writer.addContext(ids, key: key)
                }
            }
            let prompt = tokenizer.encode(String(promptText.dropFirst(memoryText.count)), addSpecialTokens: false)
            let target = tokenizer.encode(String(fullText.dropFirst(promptText.count)), addSpecialTokens: false)
            try writer.addExample(contextID: contextID, prompt: prompt, target: target, task: task)
            progress(writer.exampleCount)
        }
        guard writer.exampleCount > 0 else { throw DataError.badInput(source: input.path, reason: "no examples") }
        let summary = Summary(examples: writer.exampleCount, contexts: writer.contextCount, contextTokens: contextTokens)
        try writer.finish()
        return summary
    }
}
