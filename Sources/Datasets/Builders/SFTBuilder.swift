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
///
/// With a `ValidationSplit`, a seeded share of the distinct memories goes, with all their examples, to a second
/// store: a validation loss then measures contexts the model never trained on, not other questions on the same text.
public enum SFTBuilder {
    public struct Summary: Sendable {
        public var examples: Int
        public var contexts: Int
        public var contextTokens: Int
        public var validationExamples = 0
        public var validationContexts = 0
    }

    /// Which examples go to the validation store: those whose memory's seeded hash falls below `fraction` (a memory
    /// is chosen whole, whichever way its lines name it); examples without a memory are chosen by their own line.
    public struct ValidationSplit: Sendable {
        public var output: URL
        public var fraction: Double
        public var seed: UInt64
        public init(output: URL, fraction: Double, seed: UInt64) {
            self.output = output; self.fraction = fraction; self.seed = seed
        }

        func holdsOut(key: String) -> Bool {
            let digest = SHA256.hex("\(seed):" + key)
            return Double(UInt64(digest.prefix(16), radix: 16)! >> 11) * 0x1.0p-53 < fraction
        }
    }

    struct Message: Decodable { var role: String; var content: String }
    struct Line: Decodable {
        var task: String?
        var context: String?
        var contextID: String?
        var memoryTurns: Int?
        var conversations: [Message]?
        /// The document's name (`data synth-clues` writes it; `build` does not need it).
        var source: String?
        enum CodingKeys: String, CodingKey {
            case task, context, conversations, source
            case contextID = "context_id"
            case memoryTurns = "memory_turns"
        }
    }

    public static func build(input: URL, tokenizer: any Tokenizer, template: ChatTemplate, tokenizerSHA256: String,
                             output: URL, validation: ValidationSplit? = nil,
                             progress: (Int) -> Void = { _ in }) throws -> Summary {
        if let validation {
            guard validation.fraction > 0, validation.fraction < 1 else {
                throw DataError.badInput(source: "--validation-fraction", reason: "must be in (0, 1), got \(validation.fraction)")
            }
            guard validation.output.standardizedFileURL != output.standardizedFileURL else {
                throw DataError.badInput(source: validation.output.path, reason: "the validation store must be another file than the training store")
            }
        }
        guard let data = FileManager.default.contents(atPath: input.path), let text = String(data: data, encoding: .utf8)
        else { throw DataError.unreadable(path: input.path, reason: "cannot read it as UTF-8 text") }
        let writer = try SFTStoreWriter(url: output, vocabSize: tokenizer.vocabularySize, tokenizerSHA256: tokenizerSHA256)
        writer.addSource(input.lastPathComponent)
        let heldOutWriter = try validation.map {
            try SFTStoreWriter(url: $0.output, vocabSize: tokenizer.vocabularySize, tokenizerSHA256: tokenizerSHA256)
        }
        heldOutWriter?.addSource(input.lastPathComponent)
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
            let chat = withContext(messages.map { ChatMessage(role: $0.role, content: $0.content) }, context: context,
                                   memoryTurns: memoryTurns)
            for m in chat { try EvaluationBooks.refuse(text: m.content, source: source) }
            let parts = try render(chat, memoryTurns: memoryTurns, template: template, source: source)
            let memoryKey = memoryTurns > 0 ? SHA256.hex(parts.memory) : nil
            let store = validation?.holdsOut(key: memoryKey ?? lineText) == true ? heldOutWriter! : writer
            var contextID: Int?
            if let key = memoryKey {
                if let id = store.contextID(forKey: key) {
                    contextID = id
                } else {
                    let ids = tokenizer.encodeLong(parts.memory)
                    contextTokens += ids.count
                    contextID = try store.addContext(ids, key: key)
                }
            }
            let prompt = tokenizer.encode(parts.prompt, addSpecialTokens: false)
            let target = tokenizer.encode(parts.target, addSpecialTokens: false)
            try store.addExample(contextID: contextID, prompt: prompt, target: target, task: task)
            progress(writer.exampleCount + (heldOutWriter?.exampleCount ?? 0))
        }
        guard writer.exampleCount > 0 else {
            throw DataError.badInput(source: input.path, reason: validation == nil ? "no examples" : "no examples left for training")
        }
        var summary = Summary(examples: writer.exampleCount, contexts: writer.contextCount, contextTokens: contextTokens)
        if let heldOutWriter, let validation {
            guard heldOutWriter.exampleCount > 0 else {
                throw DataError.badInput(source: input.path, reason: "none of its \(writer.contextCount) contexts fell "
                                             + "into a validation fraction of \(validation.fraction); raise it")
            }
            summary.validationExamples = heldOutWriter.exampleCount
            summary.validationContexts = heldOutWriter.contextCount
            try heldOutWriter.finish()
        }
        try writer.finish()
        return summary
    }

    /// A conversation's text as the store splits it: the first `memoryTurns` messages (the memory), the rest up to
    /// the last message with the generation prompt (the prompt), and the last message with the template's
    /// end-of-turn (the target). What a model generates a reply after is `memory + prompt`.
    public static func render(_ chat: [ChatMessage], memoryTurns: Int, template: ChatTemplate, source: String) throws
        -> (memory: String, prompt: String, target: String)
    {
        let memoryText = memoryTurns > 0 ? template.render(Array(chat[..<memoryTurns]), addGenerationPrompt: false) : ""
        let promptText = template.render(Array(chat.dropLast()), addGenerationPrompt: true)
        let fullText = template.render(chat, addGenerationPrompt: false)
        guard promptText.hasPrefix(memoryText), fullText.hasPrefix(promptText) else {
            throw DataError.badInput(source: source, reason: "the chat template does not render this conversation "
                                         + "as memory + prompt + target")
        }
        return (memoryText, String(promptText.dropFirst(memoryText.count)), String(fullText.dropFirst(promptText.count)))
    }

    /// The memory turns with the literal `{context}` replaced by the document.
    static func withContext(_ chat: [ChatMessage], context: String?, memoryTurns: Int) -> [ChatMessage] {
        guard let context else { return chat }
        var chat = chat
        for k in 0..<min(memoryTurns, chat.count) {
            chat[k].content = chat[k].content.replacingOccurrences(of: "{context}", with: context)
        }
        return chat
    }

    /// Token ids of a conversation's memory, prompt and target (the conversation as a JSONL line holds it, with
    /// `{context}` in its memory turns), encoded as `build` stores them.
    public static func tokens(_ chat: [ChatMessage], context: String?, memoryTurns: Int, template: ChatTemplate,
                              tokenizer: any Tokenizer, source: String) throws
        -> (memory: [Int], prompt: [Int], target: [Int])
    {
        let parts = try render(withContext(chat, context: context, memoryTurns: memoryTurns), memoryTurns: memoryTurns,
                               template: template, source: source)
        return (tokenizer.encodeLong(parts.memory), tokenizer.encode(parts.prompt, addSpecialTokens: false),
                tokenizer.encode(parts.target, addSpecialTokens: false))
    }
}
