import Foundation
import MemoRAG

/// OpenAI chat-completions response objects (the fields OpenAI's clients read), with MemoRAG's clues, evidence and
/// timings under an extra `memorag` key that those clients ignore.
struct ChatCompletionResponse: Encodable {
    struct Choice: Encodable {
        struct Message: Encodable {
            var role = "assistant"
            var content: String
        }
        var index = 0
        var message: Message
        var finishReason: String

        enum CodingKeys: String, CodingKey {
            case index, message
            case finishReason = "finish_reason"
        }
    }

    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage
    var memorag: Details
}

struct Usage: Encodable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int { promptTokens + completionTokens }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case totalTokens = "total_tokens"
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(promptTokens, forKey: .promptTokens)
        try container.encode(completionTokens, forKey: .completionTokens)
        try container.encode(totalTokens, forKey: .totalTokens)
    }
}

/// What MemoRAG adds to an answer.
struct Details: Encodable {
    var memory: String
    var task: TaskKind
    var clues: [Clue]
    var evidence: [Evidence]
    var timings: AskTimings
}

/// One server-sent event of a streamed completion.
struct ChatCompletionChunk: Encodable {
    struct Choice: Encodable {
        struct Delta: Encodable {
            var role: String?
            var content: String?
        }
        var index = 0
        var delta: Delta
        var finishReason: String?

        enum CodingKeys: String, CodingKey {
            case index, delta
            case finishReason = "finish_reason"
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(delta, forKey: .delta)
            try container.encode(finishReason, forKey: .finishReason)  // explicit null, as OpenAI sends
        }
    }

    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?
    var memorag: Details?
}

enum ServerSentEvent {
    /// `data: JSON\n\n`
    static func data<T: Encodable>(_ value: T) throws -> ByteBufferText {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return ByteBufferText("data: " + String(decoding: try encoder.encode(value), as: UTF8.self) + "\n\n")
    }

    static let done = ByteBufferText("data: [DONE]\n\n")
}

/// A piece of text bound for the wire (keeps `ByteBuffer` out of the encoding helpers).
struct ByteBufferText {
    var text: String
    init(_ text: String) { self.text = text }
}
