import Foundation

/// The memory model's prompt texts (MemoRAG's `en_prompts`): the context prompt that wraps a document
/// (`{context}`), the model's reply after reading it, and the task prompts (`{question}`): `span` (recall),
/// `sur` (rewrite), `qa` (answer). A JSON file with these keys overrides the bundled English set.
public struct MemoryPrompts: Codable, Sendable, Equatable {
    public var context: String
    public var dullReply: String
    public var span: String
    public var sur: String
    public var qa: String

    enum CodingKeys: String, CodingKey {
        case context, span, sur, qa
        case dullReply = "dull_reply"
    }

    public static func load(_ url: URL) throws -> MemoryPrompts {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DataError.unreadable(path: url.path, reason: "cannot read the prompts file")
        }
        do { return try JSONDecoder().decode(MemoryPrompts.self, from: data) } catch {
            throw DataError.badInput(source: url.path, reason: "not a prompts file (keys context, dull_reply, span, "
                                         + "sur, qa): \(error)")
        }
    }

    /// The bundled English prompts.
    public static func english() throws -> MemoryPrompts {
        guard let url = Bundle.module.url(forResource: "Resources/memory-prompts-en", withExtension: "json")
            ?? Bundle.module.url(forResource: "memory-prompts-en", withExtension: "json")
        else { throw DataError.unreadable(path: "memory-prompts-en.json", reason: "missing from the Data bundle") }
        return try load(url)
    }

    /// The task prompt for `task` with the question filled in.
    public func taskPrompt(_ task: ClueTask, question: String) -> String? {
        let template: String
        switch task {
        case .recall: template = span
        case .rewrite: template = sur
        case .answer: template = qa
        case .summarize: return nil
        }
        return template.replacingOccurrences(of: "{question}", with: question)
    }
}
