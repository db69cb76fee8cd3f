import Foundation

/// The texts MemoRAG wraps around a document and a query (the reference's `memorag/prompt.py`, kept as data in
/// `Resources/prompts/{en,zh}.json` so a user can replace them with a file of the same shape). Training data (the
/// clue SFT sets) and inference (the pipeline) read the same set, so a model is asked the way it was taught.
///
/// Placeholders: `{context}` in `context`, `gist`, `qaGeneration`, `summaryGeneration`; `{question}` in `recall`,
/// `rewrite`, `answer`; `{input}` in `qaGeneration`.
public struct PromptSet: Codable, Sendable, Equatable {
    public var language: String
    /// The user turn that carries the whole document when the memory is formed.
    public var context: String
    /// The assistant's reply that closes the memory turn.
    public var memoryReply: String
    /// Clue spans copied from the memory.
    public var recall: String
    /// Surrogate questions that sharpen the query.
    public var rewrite: String
    /// A direct answer from the memory alone.
    public var answer: String
    /// Numbered key points of the whole document.
    public var summarize: String
    /// The generator's prompt over retrieved evidence.
    public var qaGeneration: String
    public var summaryGeneration: String
    /// The lite mode's gist of one chunk.
    public var gist: String

    enum CodingKeys: String, CodingKey {
        case language, context, recall, rewrite, answer, summarize, gist
        case memoryReply = "memory_reply"
        case qaGeneration = "qa_generation"
        case summaryGeneration = "summary_generation"
    }

    /// The shipped set for `language` ("en" or "zh").
    public static func builtIn(_ language: String) throws -> PromptSet {
        guard let url = Bundle.module.url(forResource: language, withExtension: "json", subdirectory: "prompts") else {
            throw TokenizerError.unreadable(path: "prompts/\(language).json",
                                           reason: "no built-in prompt set for language '\(language)' (have: en, zh)")
        }
        return try load(url)
    }

    /// A prompt set from a JSON file with the keys of `Resources/prompts/en.json`.
    public static func load(_ url: URL) throws -> PromptSet {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let prompts: PromptSet
        do { prompts = try JSONDecoder().decode(PromptSet.self, from: data) } catch {
            throw TokenizerError.invalid(path: url.path, reason: "not a prompt set: \(error)")
        }
        try prompts.validate(source: url.path)
        return prompts
    }

    /// Every template must carry the placeholders the pipeline fills in.
    public func validate(source: String) throws {
        let required: [(String, String, String)] = [
            ("context", context, "{context}"), ("gist", gist, "{context}"),
            ("qa_generation", qaGeneration, "{context}"), ("qa_generation", qaGeneration, "{input}"),
            ("summary_generation", summaryGeneration, "{context}"),
            ("recall", recall, "{question}"), ("rewrite", rewrite, "{question}"), ("answer", answer, "{question}"),
        ]
        for (key, text, placeholder) in required where !text.contains(placeholder) {
            throw TokenizerError.invalid(path: source, reason: "prompt '\(key)' lacks the placeholder \(placeholder)")
        }
    }

    /// Picks the set by the document's script: mostly CJK text gets the Chinese prompts.
    public static func languageGuess(for text: some StringProtocol) -> String {
        var cjk = 0
        var letters = 0
        for scalar in text.unicodeScalars.prefix(20_000) where scalar.properties.isAlphabetic {
            letters += 1
            if (0x4E00...0x9FFF).contains(scalar.value) || (0x3400...0x4DBF).contains(scalar.value) { cjk += 1 }
        }
        return letters > 0 && cjk * 3 > letters ? "zh" : "en"
    }
}

extension String {
    /// Replaces `{name}` placeholders of the template in one pass (like the reference's `str.format` with named
    /// fields), so braces inside the inserted values — a document may contain "{input}" — are left alone.
    public func filling(_ values: [String: String]) -> String {
        var result = ""
        var rest = self[...]
        while let open = rest.firstIndex(of: "{") {
            result += rest[..<open]
            let afterOpen = rest.index(after: open)
            if let close = rest[afterOpen...].firstIndex(of: "}"), let value = values[String(rest[afterOpen..<close])] {
                result += value
                rest = rest[rest.index(after: close)...]
            } else {
                result.append("{")
                rest = rest[afterOpen...]
            }
        }
        return result + rest
    }
}
