import Foundation
import Tokenizers
import Torch

/// Clue SFT data from long documents without an external API (`data synth-clues`).
///
/// For each document: seeded choice of passages (paragraphs of a bounded length); the base instruct model writes a
/// question each passage answers, and a vaguer version of it. An accepted passage gives three examples in the
/// memory model's format (the document read into memory through MemoRAG's context prompt):
/// - `recall`: span prompt with the question → the passage (a clue span that occurs verbatim in the document),
/// - `answer`: qa prompt with the question → the passage's key sentence (the one sharing most words with it),
/// - `rewrite`: sur prompt with the vague question → the specific question (a surrogate question); when the model's
///   vague question is unusable, a template one ("What happens with the Mouse?") stands in.
/// Filters: the question must look like one (ends with "?", 4–40 words, not yes/no, no copied clue, not about "the
/// passage" itself, shares a content word with the passage), must not be mostly one copied run of the passage, and
/// its key sentence must share a content word with it beyond names; questions (exact and near: token Jaccard ≥ 0.8)
/// and clues are deduplicated within a context, and the clue must occur verbatim in the document.
public enum ClueSynthesis {
    public struct Options: Sendable {
        public var passagesPerDocument = 16
        public var minPassageCharacters = 120
        public var maxPassageCharacters = 700
        public var minQuestionWords = 4
        public var maxQuestionWords = 40
        /// A question whose longest run copied from the passage holds at least this share of its content words (and
        /// at least `minCopiedContentWords` of them) is rejected as `copiedFromPassage`.
        public var maxCopiedFraction = 0.6
        public var minCopiedContentWords = 3
        /// Token Jaccard at or above which a question is a near duplicate of one accepted before.
        public var nearDuplicateJaccard = 0.8
        public var seed: UInt64 = 0

        public init() {}
    }

    public struct Example: Sendable, Equatable {
        public var question: String
        /// The vaguer question for the rewrite example: the model's, else `templateVagueQuestion`; nil when neither.
        public var vagueQuestion: String?
        public var clue: String
        public var keySentence: String
    }

    public enum Rejection: String, Sendable, Equatable, CaseIterable {
        case notAQuestion = "not a question"
        case questionLength = "question too short or too long"
        /// Starts with an auxiliary ("Did Alice cry?"): its answer is a word, not a sentence of the passage.
        case yesNoQuestion = "yes/no question"
        case duplicateQuestion = "duplicate question"
        /// Token Jaccard ≥ `Options.nearDuplicateJaccard` with a question already accepted for the context.
        case nearDuplicateQuestion = "near-duplicate question"
        case duplicateClue = "duplicate clue"
        case clueNotInDocument = "clue not verbatim in the document"
        case questionCopiesClue = "question copies the clue"
        /// About the text rather than its content ("What is the passage about?"): useless without the passage.
        case metaQuestion = "question about the passage, not its content"
        /// Shares no content word with the passage (or copies the worked example of the request).
        case ungrounded = "question not grounded in the passage"
        /// Most of its content words are one run copied from the passage: retrieval would find it by string match.
        case copiedFromPassage = "question copied from a run of the passage"
        /// The key sentence shares no content word with the question beyond names: the passage does not answer it
        /// ("What is Alice's favourite colour?" over a passage that only mentions Alice).
        case answerNotInPassage = "answer not in the passage"

        /// A stable short name (the case's), for counts in progress files and reports.
        public var key: String { String(describing: self) }
    }

    /// Words that make a question about the text itself.
    static let metaPhrases = ["the passage", "this passage", "the text", "this text", "the author", "this question",
                              "the question", "the article", "the story about", "the excerpt"]

    public enum Progress: Sendable {
        case accepted(Example)
        case rejected(Rejection, question: String)
        /// The vaguer question was unusable; the example keeps recall and answer only.
        case vagueRejected(reply: String)
    }

    /// What the model is asked (chat messages) for passage `passage`, and for making `question` vaguer.
    public static func questionRequest(for passage: String) -> [ChatMessage] {
        // One worked example first: small instruct models copy its form (a concrete question naming who and what).
        [.user(questionInstruction(for: "The miller's wife baked twelve loaves every morning before sunrise and sold "
                                      + "them at the market in the square.")),
         .assistant(exampleQuestion),
         .user(questionInstruction(for: passage))]
    }

    static func questionInstruction(for passage: String) -> String {
        "Here is a passage from a book:\n\n\(passage)\n\nWrite one specific question about what happens or what is "
            + "said here that the passage answers, naming the people or things involved. Do not refer to \"the "
            + "passage\". Output only the question."
    }

    public static func vaguenessRequest(for question: String) -> [ChatMessage] {
        [.user(vaguenessInstruction(for: exampleQuestion)),
         .assistant("What did the miller's wife do each day?"),
         .user(vaguenessInstruction(for: question))]
    }

    static func vaguenessInstruction(for question: String) -> String {
        "Rewrite this question so it is shorter and more general, as a reader who does not remember the details "
            + "would ask it:\n\n\(question)\n\nOutput only the new question."
    }

    /// A vague question made without the model, for when its rewrite is unusable (small models tend to repeat the
    /// question): "What happens with <the first name in the question>?", e.g. "What is the name of the Mouse?" →
    /// "What happens with the Mouse?". Nil when the question names nothing (no capitalised word after the first).
    public static func templateVagueQuestion(from question: String) -> String? {
        let words = question.split(separator: " ").map(String.init)
        guard words.count > 1 else { return nil }
        for i in 1..<words.count {
            var word = words[i].trimmingCharacters(in: CharacterSet.punctuationCharacters)
            if word.hasSuffix("'s") || word.hasSuffix("\u{2019}s") { word = String(word.dropLast(2)) }
            guard let first = word.first, first.isUppercase, word.count > 1 else { continue }
            let article = words[i - 1].lowercased() == "the" ? "the " : ""
            return "What happens with \(article)\(word)?"
        }
        return nil
    }

    static let exampleQuestion = "How many loaves did the miller's wife bake every morning?"
    /// The worked example's own things: a question naming one that its passage lacks copied them from the example.
    static let exampleSubjects: Set<Substring> = ["miller", "loaves", "loaf", "bake", "baked", "baking", "sunrise"]

    /// Content words (lowercased, 4+ letters or digits) of a text.
    static func contentWords(_ s: String) -> Set<Substring> {
        Set(s.lowercased().split { !$0.isLetter && !$0.isNumber }.filter { $0.count >= 4 })
    }

    /// Lowercased word tokens (letters and digits) of a text, in order.
    static func tokens(_ s: String) -> [Substring] {
        s.lowercased().split { !$0.isLetter && !$0.isNumber }
    }

    /// Function words and question words of 4+ letters: they say nothing about what a question asks.
    static let questionStopWords: Set<Substring> = [
        "what", "which", "when", "where", "whom", "whose", "does", "doing", "done", "have", "having", "been", "being",
        "were", "with", "from", "into", "onto", "upon", "about", "that", "this", "these", "those", "they", "them",
        "their", "there", "then", "than", "some", "many", "much", "more", "most", "very", "also", "just", "only", "such",
        "each", "every", "other", "after", "before", "while", "during", "because", "would", "could", "should", "will",
        "shall", "might", "must", "your", "himself", "herself", "itself", "themselves", "happen", "happens", "happened",
        "according", "describe", "described", "something", "anything", "kind", "thing", "things",
    ]

    /// Auxiliaries that open a yes/no question.
    static let yesNoOpeners: Set<Substring> = [
        "is", "are", "was", "were", "am", "do", "does", "did", "can", "could", "will", "would", "should", "shall",
        "has", "have", "had", "may", "might", "must", "isn", "aren", "wasn", "weren", "don", "doesn", "didn", "couldn",
        "won", "wouldn", "shouldn", "hasn", "haven", "hadn",
    ]

    /// Whether the question opens with an auxiliary ("Did Alice cry?", "Is the Hatter mad?").
    static func isYesNo(_ question: String) -> Bool {
        tokens(question).first.map(yesNoOpeners.contains) ?? false
    }

    /// The question's content words that carry what it asks: 4+ letters, not stop words, not names (words
    /// capitalised after the question's first word).
    static func askedWords(_ question: String) -> Set<Substring> {
        let words = question.split { !$0.isLetter && !$0.isNumber }
        let names = Set(words.dropFirst().filter { $0.first?.isUppercase ?? false }.map { Substring($0.lowercased()) })
        return contentWords(question).subtracting(questionStopWords).subtracting(names)
    }

    /// The share of the question's content words (stop words aside) inside its longest run of tokens copied from
    /// the passage, and how many that is.
    static func copiedRun(question: String, passage: String) -> (fraction: Double, words: Int) {
        let q = tokens(question), p = tokens(passage)
        let content = contentWords(question).subtracting(questionStopWords)
        guard !content.isEmpty, !q.isEmpty, !p.isEmpty else { return (0, 0) }
        // Longest common run of tokens (dynamic programming over question × passage), scored by content words.
        var best = 0
        var previous = [Int](repeating: 0, count: p.count + 1)
        var previousScore = [Int](repeating: 0, count: p.count + 1)
        for i in 0..<q.count {
            var current = [Int](repeating: 0, count: p.count + 1)
            var score = [Int](repeating: 0, count: p.count + 1)
            let counts = content.contains(q[i]) ? 1 : 0
            for j in 0..<p.count where q[i] == p[j] {
                current[j + 1] = previous[j] + 1
                score[j + 1] = previousScore[j] + counts
                best = max(best, score[j + 1])
            }
            previous = current
            previousScore = score
        }
        return (min(1, Double(best) / Double(content.count)), best)
    }

    /// Token-set Jaccard similarity of two questions.
    static func jaccard(_ a: Set<Substring>, _ b: Set<Substring>) -> Double {
        let union = a.union(b).count
        return union == 0 ? 1 : Double(a.intersection(b).count) / Double(union)
    }

    /// The document cut into contexts of at most `maxTokens` tokens (by `tokenCount`) at paragraph boundaries, in
    /// order; a paragraph longer than the limit is a context of its own. Training samples are then about a memory
    /// window or two long, so the clue is inside what the model reads (a whole book cut from the front to the
    /// sample limit would often lose it) and a sample costs seconds instead of minutes.
    public static func contexts(of document: String, maxTokens: Int, tokenCount: (String) -> Int) -> [String] {
        let paragraphs = document.components(separatedBy: "\n\n")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        var contexts: [String] = []
        var current: [String] = []
        var size = 0
        for paragraph in paragraphs {
            let n = tokenCount(paragraph) + 1
            if size + n > maxTokens, !current.isEmpty {
                contexts.append(current.joined(separator: "\n\n"))
                current = []
                size = 0
            }
            current.append(paragraph)
            size += n
        }
        if !current.isEmpty { contexts.append(current.joined(separator: "\n\n")) }
        return contexts
    }

    /// Up to `count` of `contexts`, chosen with `seed` and kept in document order.
    public static func sample<T>(_ contexts: [T], count: Int, seed: UInt64) -> [T] {
        guard count < contexts.count else { return contexts }
        var rng = SplitMix64(seed: seed)
        var indices = Array(contexts.indices)
        var chosen: [Int] = []
        while chosen.count < count { chosen.append(indices.remove(at: rng.uniform(below: indices.count))) }
        return chosen.sorted().map { contexts[$0] }
    }

    /// Up to `count` distinct paragraphs of the document whose length is within bounds, chosen with `seed`.
    public static func passages(in document: String, options: Options) -> [String] {
        let paragraphs = document.components(separatedBy: "\n\n")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { (options.minPassageCharacters...options.maxPassageCharacters).contains($0.count) }
        var seen = Set<String>()
        var candidates = paragraphs.filter { seen.insert($0).inserted }
        var rng = SplitMix64(seed: options.seed)
        var chosen: [String] = []
        while chosen.count < options.passagesPerDocument, !candidates.isEmpty {
            chosen.append(candidates.remove(at: rng.uniform(below: candidates.count)))
        }
        return chosen
    }

    /// The first line of a model reply as a question: leading labels ("Question:", "Q:", "1.") and quotes removed;
    /// nil when it does not end with a question mark.
    public static func cleanQuestion(_ reply: String) -> String? {
        var q = reply.trimmingCharacters(in: .whitespacesAndNewlines)
        if let newline = q.firstIndex(of: "\n") { q = String(q[..<newline]) }
        for label in ["Question:", "question:", "Q:", "New question:", "1."] where q.hasPrefix(label) {
            q = String(q.dropFirst(label.count))
        }
        q = q.trimmingCharacters(in: CharacterSet.whitespaces.union(CharacterSet(charactersIn: "\"'*`\u{201C}\u{201D}")))
        guard q.hasSuffix("?") || q.hasSuffix("？") else { return nil }
        return q
    }

    /// The passage's sentence sharing most (lowercased, 4+ letter) words with the question; the longest on ties.
    public static func keySentence(of passage: String, question: String) -> String {
        let words = { (s: String) in Set(s.lowercased().split { !$0.isLetter && !$0.isNumber }.filter { $0.count >= 4 }) }
        let asked = words(question)
        var sentences: [String] = []
        var current = ""
        let characters = Array(passage)
        for (i, c) in characters.enumerated() {
            current.append(c)
            let ends = "。！？".contains(c) || (".!?".contains(c) && (i + 1 == characters.count || characters[i + 1] == " "))
            if ends {
                let s = current.trimmingCharacters(in: .whitespaces)
                if !s.isEmpty { sentences.append(s) }
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespaces)
        if !rest.isEmpty { sentences.append(rest) }
        return sentences.max { a, b in
            let (x, y) = (words(a).intersection(asked).count, words(b).intersection(asked).count)
            return x != y ? x < y : a.count < b.count
        } ?? passage
    }

    /// The filters, with the questions and clues accepted so far.
    public struct Filter: Sendable {
        public var options: Options
        private var questions = Set<String>()
        private var questionTokens: [Set<Substring>] = []
        private var clues = Set<String>()

        public init(options: Options) { self.options = options }

        static func key(_ s: String) -> String {
            s.lowercased().split { $0.isWhitespace }.joined(separator: " ")
        }

        /// Checks a question (already cleaned) for its shape alone.
        public func checkShape(_ question: String, clue: String) -> Rejection? {
            let words = question.split { $0.isWhitespace }.count
            // CJK questions have no spaces: count characters / 2 as words.
            let size = words > 1 ? words : question.count / 2
            if size < options.minQuestionWords || size > options.maxQuestionWords { return .questionLength }
            if ClueSynthesis.isYesNo(question) { return .yesNoQuestion }
            let lowered = question.lowercased()
            if ClueSynthesis.metaPhrases.contains(where: { lowered.contains($0) }) { return .metaQuestion }
            if Self.key(question).count > 30, Self.key(clue).contains(Self.key(question).dropLast()) { return .questionCopiesClue }
            return nil
        }

        /// Accepts (and remembers) a question/clue pair, or says why not.
        public mutating func admit(question: String, clue: String, document: String) -> Rejection? {
            if let shape = checkShape(question, clue: clue) { return shape }
            guard document.contains(clue) else { return .clueNotInDocument }
            if questions.contains(Self.key(question)) { return .duplicateQuestion }
            let tokens = Set(ClueSynthesis.tokens(question))
            if questionTokens.contains(where: { ClueSynthesis.jaccard($0, tokens) >= options.nearDuplicateJaccard }) {
                return .nearDuplicateQuestion
            }
            if clues.contains(Self.key(clue)) { return .duplicateClue }
            // Grounding (skipped for scripts without spaces, where words cannot be split this way).
            let asked = ClueSynthesis.contentWords(question)
            if question.contains(" ") {
                if asked.intersection(ClueSynthesis.contentWords(clue)).isEmpty { return .ungrounded }
                if asked.intersection(ClueSynthesis.contentWords(ClueSynthesis.exampleQuestion)).count >= 3 { return .ungrounded }
                // Small models graft the worked example's subject onto the passage ("the miller's wife's laughter").
                if !asked.intersection(ClueSynthesis.exampleSubjects).subtracting(ClueSynthesis.contentWords(clue)).isEmpty {
                    return .ungrounded
                }
                let copied = ClueSynthesis.copiedRun(question: question, passage: clue)
                if copied.words >= options.minCopiedContentWords, copied.fraction >= options.maxCopiedFraction {
                    return .copiedFromPassage
                }
                let key = ClueSynthesis.contentWords(ClueSynthesis.keySentence(of: clue, question: question))
                if key.isDisjoint(with: ClueSynthesis.askedWords(question)) { return .answerNotInPassage }
            }
            questions.insert(Self.key(question))
            questionTokens.append(tokens)
            clues.insert(Self.key(clue))
            return nil
        }
    }

    /// Runs the synthesis over one document; `generate(messages, requestIndex)` is the model (its reply text).
    /// `accept` sees each accepted example as soon as it is made (before `progress` does), e.g. to append it to a file.
    public static func synthesize(document: String, source: String, options: Options,
                                  generate: ([ChatMessage], Int) throws -> String,
                                  progress: (Progress) -> Void = { _ in },
                                  accept: (Example) throws -> Void = { _ in }) throws -> [Example] {
        try EvaluationBooks.refuse(text: document, source: source)
        var filter = Filter(options: options)
        var examples: [Example] = []
        var request = 0
        for passage in passages(in: document, options: options) {
            let reply = try generate(questionRequest(for: passage), request)
            request += 1
            guard let question = cleanQuestion(reply) else {
                progress(.rejected(.notAQuestion, question: reply))
                continue
            }
            if let why = filter.admit(question: question, clue: passage, document: document) {
                progress(.rejected(why, question: question))
                continue
            }
            let vagueReply = try generate(vaguenessRequest(for: question), request)
            request += 1
            var vague = cleanQuestion(vagueReply)
            if let v = vague, filter.checkShape(v, clue: passage) != nil || Filter.key(v) == Filter.key(question) {
                vague = nil
            }
            if vague == nil {
                progress(.vagueRejected(reply: vagueReply))
                vague = templateVagueQuestion(from: question)
            }
            let example = Example(question: question, vagueQuestion: vague, clue: passage,
                                  keySentence: keySentence(of: passage, question: question))
            examples.append(example)
            try accept(example)
            progress(.accepted(example))
        }
        return examples
    }

    /// JSONL lines for `data sft`: one context declaration for the document, then the examples' conversations.
    public static func jsonLines(examples: [Example], document: String, source: String, prompts: PromptSet) throws
        -> [String]
    {
        try [contextLine(document: document, source: source)]
            + examples.flatMap { try exampleLines($0, document: document, source: source, prompts: prompts) }
    }

    /// The JSONL line declaring `document` as a context (`context_id` is its sha256).
    public static func contextLine(document: String, source: String) throws -> String {
        try jsonLine(["context_id": SHA256.hex(document), "context": document, "source": source])
    }

    /// The JSONL lines of one example over `document`: recall, answer and (with a vague question) rewrite.
    public static func exampleLines(_ e: Example, document: String, source: String, prompts: PromptSet) throws
        -> [String]
    {
        func example(_ task: ClueTask, _ question: String, _ target: String) throws -> String {
            try exampleLine(task: task, question: question, target: target, document: document, source: source,
                            prompts: prompts)
        }
        var lines = [try example(.recall, e.question, e.clue), try example(.answer, e.question, e.keySentence)]
        if let vague = e.vagueQuestion { lines.append(try example(.rewrite, vague, e.question)) }
        return lines
    }

    /// The JSONL line of one clue example over `document` (declared by `contextLine`): the memory turns, `task`'s
    /// turn with `question`, and `target` as the reply. Summarize takes no question and is not a clue example.
    public static func exampleLine(task: ClueTask, question: String, target: String, document: String, source: String,
                                   prompts: PromptSet) throws -> String {
        guard let turn = prompts.taskPrompt(task, question: question) else {
            throw DataError.badInput(source: source, reason: "\(task.rawValue) is not a clue task with a question")
        }
        return try jsonLine([
            "task": task.rawValue, "context_id": SHA256.hex(document), "source": source,
            "conversations": [
                ["role": "user", "content": prompts.context],
                ["role": "assistant", "content": prompts.memoryReply],
                ["role": "user", "content": turn],
                ["role": "assistant", "content": target],
            ],
        ])
    }

    static func jsonLine(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
               as: UTF8.self)
    }
}
