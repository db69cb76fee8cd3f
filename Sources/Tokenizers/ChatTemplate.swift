import Foundation

/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }
}

/// The chat formats of the models this package runs, recognised from their Jinja `chat_template` (there is no Jinja
/// engine here): rendering gives the text transformers' `apply_chat_template(..., tokenize=False)` gives.
public enum ChatTemplate: Sendable, Equatable {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message, and `<|im_start|>assistant\n` as generation prompt.
    /// With a default system prompt (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
    /// Qwen2: "You are a helpful assistant."), a system turn with it comes first when the conversation does not start
    /// with one.
    case chatML(defaultSystemPrompt: String?)
    /// Mistral-Instruct: `{bos}[INST] {user} [/INST]{assistant}{eos}[INST] …`. The v0.1 template rejects system
    /// messages; here a system message is put before the first user message's text, separated by a blank line (as
    /// later Mistral templates do). The generation prompt is implicit (the text ends with `[/INST]`).
    case mistral(bos: String, eos: String)

    /// The template a Jinja chat template string is; `source` (a file name) is named in errors.
    public static func detect(from templateString: String?, source: String = "chat template",
                              bosToken: String = "<s>", eosToken: String = "</s>") throws -> ChatTemplate {
        guard let t = templateString, !t.isEmpty else {
            throw TokenizerError.invalid(path: source, reason: "no chat template")
        }
        let literals = jinjaStringLiterals(t)
        if t.contains("<|im_start|>") && t.contains("<|im_end|>") && t.contains("role") {
            // A literal "<|im_start|>system\n…<|im_end|>" is the default system turn.
            var system: String? = nil
            for l in literals where l.hasPrefix("<|im_start|>system\n") {
                let body = l.dropFirst("<|im_start|>system\n".count)
                if let end = body.range(of: "<|im_end|>") {
                    system = String(body[..<end.lowerBound])
                    break
                }
            }
            return .chatML(defaultSystemPrompt: system)
        }
        if t.contains("[INST]") && t.contains("[/INST]") {
            if t.contains("<<SYS>>") {
                throw TokenizerError.unsupported(path: source,
                                                 feature: "Llama-2 chat template ([INST] with <<SYS>>)")
            }
            return .mistral(bos: bosToken, eos: eosToken)
        }
        throw TokenizerError.unsupported(
            path: source, feature: "chat template not recognised (supported: ChatML <|im_start|>, Mistral [INST]): "
                + String(t.prefix(120)).debugDescription)
    }

    /// The chat template of a model directory: `chat_template` of `tokenizer_config.json`, else
    /// `chat_template.jinja`; BOS/EOS strings from `tokenizer_config.json`.
    public static func load(directory: URL) throws -> ChatTemplate {
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let jinjaURL = directory.appendingPathComponent("chat_template.jinja")
        var config: [String: Any] = [:]
        if FileManager.default.fileExists(atPath: configURL.path) {
            config = try TokenizerJSON.readObject(at: configURL)
        }
        let bos = TokenizerJSON.tokenString(config["bos_token"]) ?? "<s>"
        let eos = TokenizerJSON.tokenString(config["eos_token"]) ?? "</s>"
        if let s = config["chat_template"] as? String {
            return try detect(from: s, source: configURL.path, bosToken: bos, eosToken: eos)
        }
        if let list = config["chat_template"] as? [[String: Any]] {
            let chosen = list.first { $0["name"] as? String == "default" } ?? list.first
            return try detect(from: chosen?["template"] as? String, source: configURL.path, bosToken: bos,
                              eosToken: eos)
        }
        if FileManager.default.fileExists(atPath: jinjaURL.path) {
            let text: String
            do {
                text = try String(contentsOf: jinjaURL, encoding: .utf8)
            } catch {
                throw TokenizerError.unreadable(path: jinjaURL.path, reason: error.localizedDescription)
            }
            return try detect(from: text, source: jinjaURL.path, bosToken: bos, eosToken: eos)
        }
        throw TokenizerError.invalid(path: configURL.path, reason: "no chat_template (nor chat_template.jinja)")
    }

    /// The prompt text for `messages`. With `continuing`, the text continues a conversation already in the model's
    /// context (a memorized document): no BOS and no default system prompt.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, continuing: Bool = false) -> String {
        var out = ""
        switch self {
        case .chatML(let system):
            if !continuing, let system, let first = messages.first, first.role != "system" {
                out += "<|im_start|>system\n\(system)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .mistral(let bos, let eos):
            if !continuing { out += bos }
            var system: String? = nil
            for m in messages {
                switch m.role {
                case "system":
                    system = system.map { $0 + "\n\n" + m.content } ?? m.content
                case "user":
                    let content = system.map { $0 + "\n\n" + m.content } ?? m.content
                    system = nil
                    out += "[INST] \(content) [/INST]"
                default:
                    out += m.content + eos
                }
            }
        }
        return out
    }
}

/// The string literals inside `{{ … }}` and `{% … %}` blocks of a Jinja template, unescaped.
func jinjaStringLiterals(_ template: String) -> [String] {
    var out = [String]()
    let s = Array(template.unicodeScalars)
    var i = 0
    var inBlock = false
    while i < s.count {
        if !inBlock {
            if s[i] == "{", i + 1 < s.count, s[i + 1] == "{" || s[i + 1] == "%" { inBlock = true; i += 2; continue }
            i += 1
            continue
        }
        if (s[i] == "}" || s[i] == "%"), i + 1 < s.count, s[i + 1] == "}" { inBlock = false; i += 2; continue }
        if s[i] == "'" || s[i] == "\"" {
            let quote = s[i]
            var lit = String.UnicodeScalarView()
            i += 1
            while i < s.count && s[i] != quote {
                if s[i] == "\\", i + 1 < s.count {
                    i += 1
                    switch s[i] {
                    case "n": lit.append("\n")
                    case "t": lit.append("\t")
                    case "r": lit.append("\r")
                    default: lit.append(s[i])
                    }
                } else {
                    lit.append(s[i])
                }
                i += 1
            }
            out.append(String(lit))
        }
        i += 1
    }
    return out
}
