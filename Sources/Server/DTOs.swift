import Foundation
import MemoRAG

/// `POST /v1/memories` as JSON: one text (`text`, optional `name`) or several `documents`.
struct CreateMemoryRequest: Decodable {
    struct Document: Decodable {
        var name: String?
        var text: String
    }

    var text: String?
    var name: String?
    var documents: [Document]?

    /// The documents to memorize, checked: at least one, non-empty texts, unique names.
    func validated(limits: ServerConfiguration) throws -> [(name: String, text: String)] {
        if text != nil && documents != nil { throw APIError.invalid("send either 'text' or 'documents', not both") }
        let list: [(name: String, text: String)]
        if let text {
            list = [(name ?? "document", text)]
        } else if let documents {
            list = documents.enumerated().map { i, d in (d.name ?? "document-\(i + 1)", d.text) }
        } else {
            throw APIError.invalid("missing field 'text' (or 'documents')")
        }
        return try DocumentRules.check(list)
    }
}

/// `POST /v1/memories/{id}/documents`.
struct AddDocumentRequest: Decodable {
    var text: String
    var name: String?
}

enum DocumentRules {
    static func check(_ documents: [(name: String, text: String)]) throws -> [(name: String, text: String)] {
        guard !documents.isEmpty else { throw APIError.invalid("'documents' is empty") }
        var names = Set<String>()
        for (name, text) in documents {
            guard !name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, name.count <= 200 else {
                throw APIError.invalid("document names must be 1 to 200 characters")
            }
            guard names.insert(name).inserted else { throw APIError.invalid("document name '\(name)' is used twice") }
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw APIError.invalid("document '\(name)' is empty")
            }
        }
        return documents
    }
}

/// `POST /v1/memories/{id}/ask`.
struct AskRequest: Decodable {
    var query: String
    var task: TaskKind?
    var maxNewTokens: Int?

    enum CodingKeys: String, CodingKey {
        case query, task
        case maxNewTokens = "max_new_tokens"
    }
}

/// The accepted subset of OpenAI's chat-completions request, plus `memory` (the memory id to answer from; a
/// `model` of the form `mem_…` names it too, for clients that cannot add fields) and `task`.
struct ChatCompletionRequest: Decodable {
    struct Message: Decodable {
        var role: String
        var content: String

        enum CodingKeys: String, CodingKey { case role, content }

        /// `content` is a string, or an array of parts of which the `text` ones count.
        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            role = try container.decode(String.self, forKey: .role)
            if let text = try? container.decode(String.self, forKey: .content) {
                content = text
            } else if let parts = try? container.decode([Part].self, forKey: .content) {
                content = parts.compactMap(\.text).joined(separator: "\n")
            } else if try container.decodeNil(forKey: .content) {
                content = ""
            } else {
                throw DecodingError.typeMismatch(String.self, .init(codingPath: container.codingPath + [CodingKeys.content as CodingKey],
                    debugDescription: "content must be a string or an array of text parts"))
            }
        }

        struct Part: Decodable {
            var type: String
            var text: String?
        }
    }

    var model: String?
    var messages: [Message]
    var memory: String?
    var stream: Bool?
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var task: TaskKind?

    enum CodingKeys: String, CodingKey {
        case model, messages, memory, stream, temperature, task
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
    }

    var memoryId: String? {
        if let memory { return memory }
        if let model, model.hasPrefix(MemoryRegistry.idPrefix) { return model }
        return nil
    }

    /// The question: the last user message.
    var query: String? { messages.last(where: { $0.role == "user" })?.content }
}

/// Shared checks of a query and a reply length against the server's limits.
struct QueryLimits {
    let configuration: ServerConfiguration
    let tokenCount: @Sendable (String) -> Int

    func check(query: String, task: TaskKind, maxNewTokens: Int?) throws {
        if task != .summarize {
            guard !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw APIError.invalid("the query is empty")
            }
        }
        if query.count > configuration.maxQueryTokens * 16 {  // cheap bound before tokenizing a huge string
            throw APIError.invalid("the query is longer than \(configuration.maxQueryTokens) tokens")
        }
        let tokens = tokenCount(query)
        guard tokens <= configuration.maxQueryTokens else {
            throw APIError.invalid("the query has \(tokens) tokens; the limit is \(configuration.maxQueryTokens)")
        }
        if let maxNewTokens {
            guard (1...configuration.maxNewTokens).contains(maxNewTokens) else {
                throw APIError.invalid("max_new_tokens must be between 1 and \(configuration.maxNewTokens)")
            }
        }
    }
}

/// `GET /health`.
struct HealthResponse: Encodable {
    struct Models: Encodable {
        var memoryModel: String
        var memoryModelFingerprint: String
        var retriever: String
        var retrieverFingerprint: String
        var mode: String

        enum CodingKeys: String, CodingKey {
            case mode, retriever
            case memoryModel = "memory_model"
            case memoryModelFingerprint = "memory_model_fingerprint"
            case retrieverFingerprint = "retriever_fingerprint"
        }
    }

    struct Queue: Encodable {
        var running: Int
        var queued: Int
        var maxConcurrent: Int
        var maxQueued: Int
        var refused: Int

        enum CodingKeys: String, CodingKey {
            case running, queued, refused
            case maxConcurrent = "max_concurrent"
            case maxQueued = "max_queued"
        }
    }

    var status = "ok"
    var models: Models
    var memories: Int
    var queue: Queue
    var activeJobs: Int
    var cancelledGenerations: Int

    enum CodingKeys: String, CodingKey {
        case status, models, memories, queue
        case activeJobs = "active_jobs"
        case cancelledGenerations = "cancelled_generations"
    }
}

struct MemoryList: Encodable {
    var object = "list"
    var data: [MemoryInfo]
}

struct JobAccepted: Encodable {
    var job: JobStatus
    var memoryId: String
    var statusURL: String

    enum CodingKeys: String, CodingKey {
        case job
        case memoryId = "memory_id"
        case statusURL = "status_url"
    }
}
