import Foundation
import Tokenizers
import Torch

/// Reader SFT data (`data reader-qa`): short-answer questions made by rule from a book's narrative sentences, each
/// answered from a few evidence passages in the answering prompt the pipeline's generator reads (`qa_generation`).
///
/// Why rules and not the instruct model: questions SmolLM2-135M writes are mostly vague or unanswerable, and a short
/// answer cut from them was wrong more often than right. A rule-made question is plain, but its answer is a span of
/// its passage by construction, which is what a reader must learn to give: a few words copied from the evidence,
/// never a continuation of the text or a question back.
///
/// A sentence `SUBJECT VERB REST` whose subject is a character (see `names(in:)`), optionally with a title, gives:
/// - who: "Who VERB REST?" → the subject (also "Who was NAME?" → "a/an …" for "NAME was a …");
/// - what: "What did SUBJECT BASE TAIL?" → the object noun phrase after a known verb (BASE is its plain form);
/// - where: "Where did SUBJECT BASE …?" → a capitalised place after at/in/to/from;
/// - why: "Why did SUBJECT BASE …?" → "because …".
/// "She/He/They" subjects give what/where/why questions only (who would be unanswerable). Dialogue (sentences with
/// quotes) and attribution verbs ("said") are skipped. The evidence is the answer's passage, two passages near it
/// and one or two from elsewhere in the book, in book order; a share of the examples drop the answer's passage and
/// answer `notInEvidence`, so the reader also learns to say so.
public enum ReaderQuestions {
    public enum Kind: String, Sendable, CaseIterable {
        case who, what, `where`, why
    }

    public struct Question: Sendable, Equatable {
        public var kind: Kind
        public var question: String
        public var answer: String
    }

    public struct Example: Sendable, Equatable {
        public var kind: Kind
        public var question: String
        /// The target: a span of `passages`, or `notInEvidence` when the answer's passage was left out.
        public var answer: String
        public var passages: [String]
    }

    public struct Options: Sendable {
        /// Examples per document at most (fewer when the book has fewer usable sentences).
        public var limit = 400
        /// Share of each kind among the examples (the rest of a kind's share is not refilled by others).
        public var kindShares: [Kind: Double] = [.who: 0.35, .what: 0.3, .where: 0.15, .why: 0.2]
        /// Share of examples whose evidence lacks the answer's passage.
        public var unanswerableFraction = 0.08
        /// Passages within this many of the answer's passage serve as near (hard) distractors.
        public var nearWindow = 6
        public var nearDistractors = 2
        /// Passages of about this many words (paragraphs joined up to the minimum; long ones split at sentences),
        /// close to the retriever's chunks the generator reads in the pipeline.
        public var passageWords = 150
        public var maxSentenceWords = 40
        /// Give the book's characters other names, consistently within each example (see `renamed`).
        public var renameCharacters = true
        public var seed: UInt64 = 0

        public init() {}
    }

    public static let notInEvidence = "The text does not say."

    static let titles: Set<String> = ["Mr.", "Mrs.", "Miss", "Lady", "Sir", "Colonel", "Captain", "Dr.", "Admiral",
                                      "General", "Lord"]
    /// Capitalised words that are not names even when a book never writes them in lower case.
    static let notNames: Set<String> = Set(("The A An He She It They We I You His Her Their Our My Your But And Or If "
        + "When Then There This That These Those What Who Why How Where Yes No Oh Nor So As In On At To For Of With By "
        + "From Not Such One Every Each Some All Any Well Now Do Did Is Was Be Had Have Chapter Volume Miss Mr Mrs "
        + "Lady Sir").split(separator: " ").map(String.init))
    static let attributionVerbs: Set<String> = ["said", "replied", "cried", "answered", "continued", "added",
                                                "exclaimed", "returned"]
    static let modalVerbs: Set<String> = ["could", "would", "should", "might", "was", "had"]
    /// Past forms and their plain forms, for "What did X BASE?" (only verbs listed here make what/where/why).
    static let plainForm: [String: String] = {
        let pairs = """
            had have went go came come took take gave give told tell saw see thought think felt feel knew know made \
            make found find left leave met meet sat sit stood stand began begin spoke speak wrote write brought bring \
            heard hear ran run became become sent send kept keep lost lose bought buy paid pay got get wanted want \
            received receive asked ask wished wish loved love liked like hoped hope expected expect believed believe \
            admired admire returned return answered answer walked walk visited visit married marry called call \
            opened open noticed notice observed observe remembered remember invited invite refused refuse accepted \
            accept promised promise followed follow joined join reached reach entered enter passed pass looked look \
            declared declare determined determine resolved resolve offered offer showed show played play danced \
            dance read read carried carry used use learned learn dined dine preferred prefer settled settle arrived \
            arrive agreed agree proposed propose lived live travelled travel discovered discover persuaded persuade \
            mentioned mention placed place
            """.split(separator: " ").map(String.init)
        return Dictionary(uniqueKeysWithValues: stride(from: 0, to: pairs.count, by: 2).map { (pairs[$0], pairs[$0 + 1]) })
    }()
    /// Words that end an object noun phrase.
    static let phraseEnds: Set<String> = ["and", "but", "which", "who", "when", "that", "because", "as", "to", "for",
                                          "with", "in", "at"]
    static let objectOpeners: Set<String> = ["a", "an", "the", "some", "his", "her", "their", "no", "every", "several",
                                             "two", "three", "many"]

    /// The book's passages: paragraphs joined until `passageWords`, long paragraphs split at sentences.
    public static func passages(of document: String, words target: Int) -> [String] {
        var passages: [String] = []
        var current: [String] = []
        var count = 0
        func add(_ piece: String) {
            current.append(piece)
            count += piece.split(separator: " ").count
            if count >= target {
                passages.append(current.joined(separator: "\n"))
                (current, count) = ([], 0)
            }
        }
        for paragraph in document.components(separatedBy: "\n\n") {
            let text = paragraph.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            guard !text.isEmpty else { continue }
            if text.split(separator: " ").count > target * 3 / 2 { sentences(of: text).forEach(add) } else { add(text) }
        }
        if !current.isEmpty { passages.append(current.joined(separator: "\n")) }
        return passages
    }

    /// Sentences (and their "; " clauses) of a passage; a full stop after a title does not end one.
    static func sentences(of text: String) -> [String] {
        var result: [String] = []
        var current: [Substring] = []
        for word in text.split(whereSeparator: \.isWhitespace) {
            current.append(word)
            let ends = (word.hasSuffix(".") || word.hasSuffix("!") || word.hasSuffix("?")) && !titles.contains(String(word))
                && word != "St."
            if ends || word.hasSuffix(";") {
                result.append(current.joined(separator: " "))
                current = []
            }
        }
        if !current.isEmpty { result.append(current.joined(separator: " ")) }
        return result
    }

    /// The book's recurring proper names: capitalised words seen at least `minimumCount` times after a lower-case
    /// word (so not only at a sentence start) and never written in lower case. Those found mostly after at/in/to/from
    /// are places; the others are taken for characters.
    public struct Names: Sendable, Equatable {
        public var characters: Set<String>
        public var places: Set<String>
    }

    public static func names(in document: String, minimumCount: Int = 8) -> Names {
        var capitalised: [String: (count: Int, afterPreposition: Int)] = [:]
        var lowercase = Set<String>()
        var previous: Substring = ""
        var previousLower = false
        for raw in document.split(whereSeparator: \.isWhitespace) {
            defer { previous = raw }
            let word = raw.trimmingCharacters(in: .punctuationCharacters)
            guard let first = word.unicodeScalars.first, word.allSatisfy(\.isLetter) else { previousLower = false; continue }
            if CharacterSet.uppercaseLetters.contains(first) {
                if previousLower {
                    let place = ["at", "in", "to", "from", "near"].contains(previous)
                    capitalised[word, default: (0, 0)].count += 1
                    capitalised[word, default: (0, 0)].afterPreposition += place ? 1 : 0
                }
                previousLower = false
            } else {
                lowercase.insert(word)
                // Only a word that does not end its sentence or clause makes the next capital a mid-sentence one.
                previousLower = raw.last.map { $0.isLetter || $0 == "," } ?? false
            }
        }
        let proper = capitalised.filter { $0.value.count >= minimumCount && !lowercase.contains($0.key.lowercased())
            && !notNames.contains($0.key) }
        let places = Set(proper.filter { 2 * $0.value.afterPreposition > $0.value.count }.keys)
        return Names(characters: Set(proper.keys).subtracting(places), places: places)
    }

    /// The questions one sentence gives (none for most sentences).
    public static func questions(in sentence: String, names: Names, maxWords: Int = 40) -> [Question] {
        guard !sentence.contains(where: { "\"\u{201C}\u{201D}'".contains($0) }) else { return [] }
        var words = sentence.split(separator: " ").map(String.init)
        guard (6...maxWords).contains(words.count) else { return [] }
        words[words.count - 1] = words[words.count - 1].trimmingCharacters(in: CharacterSet(charactersIn: ".!;:,?"))
        // "In the evening, Emma …": a short capitalised opening phrase before the subject is dropped.
        if let comma = words.prefix(6).firstIndex(where: { $0.hasSuffix(",") }), comma + 1 < words.count,
           words[0].first?.isUppercase == true, words[(comma + 1)...].first?.first?.isUppercase == true {
            words.removeFirst(comma + 1)
        }
        guard let (subject, pronoun, verbIndex) = subject(of: words, characters: names.characters), verbIndex + 2 < words.count
        else { return [] }
        let verb = words[verbIndex]
        guard verb.allSatisfy({ $0.isLowercase }), !attributionVerbs.contains(verb) else { return [] }
        let rest = Array(words[(verbIndex + 1)...])
        var found: [Question] = []

        if !pronoun, plainForm[verb] != nil || modalVerbs.contains(verb) || verb.hasSuffix("ed") {
            let body = clause(rest)
            if (3...18).contains(body.count) {
                found.append(Question(kind: .who, question: "Who \(verb) \(body.joined(separator: " "))?", answer: subject))
            }
            if verb == "was", ["a", "an"].contains(rest[0]) {
                let phrase = prefix(rest, endingAt: ["and", "but", "who", "which", "whose"])
                // "a good deal surprised", "a little tired": degree phrases, not what the character is.
                if phrase.count <= 7, !["a good deal", "a great deal", "a little"].contains(where: phrase.joined(separator: " ").hasPrefix) {
                    found.append(Question(kind: .what, question: "Who was \(subject)?", answer: phrase.joined(separator: " ")))
                }
            }
        }
        // "had gone", "had been": an auxiliary, not the verb the plain form would ask about.
        guard let base = plainForm[verb], verb != "had" || objectOpeners.contains(rest[0]) else { return found }
        let asked = pronoun ? subject.lowercased() : subject

        let object = prefix(rest, endingAt: phraseEnds)
        if (2...6).contains(object.count), objectOpeners.contains(object[0]) || object[0].first?.isUppercase == true,
           !["own", "self"].contains(object[1]) {
            var tail = clause(Array(rest[object.count...]))
            if let first = tail.first, first.hasPrefix(",") || ["and", "but", "which", "who", "that"].contains(first) || tail.count > 10 {
                tail = []
            }
            if !(pronoun && tail.isEmpty) {
                let wh = object[0].first?.isUppercase == true ? "Whom" : "What"
                let question = ([wh, "did", asked, base] + tail).joined(separator: " ").trimmingCharacters(in: .punctuationCharacters)
                found.append(Question(kind: .what, question: question + "?", answer: trimmed(object)))
            }
        }
        if !pronoun, let p = rest.firstIndex(where: { ["at", "in", "to", "from"].contains($0) }), p <= 10, p + 1 < rest.count {
            var place = Array(rest[(p + 1)...].prefix(3))
            if place.first == "the" { place.removeFirst() }
            let capitalised = Array(place.prefix { $0.first?.isUppercase == true }.prefix(2))
            let bare = capitalised.map { $0.trimmingCharacters(in: .punctuationCharacters) }
            if !bare.isEmpty, bare.contains(where: names.places.contains) || !bare.contains(where: {
                names.characters.contains($0) || notNames.contains($0) || titles.contains($0) }) {
                let asking = (["Where", "did", asked, base] + rest[..<p]).joined(separator: " ")
                let answer = (rest[p + 1] == "the" ? "the " : "") + bare.joined(separator: " ")
                found.append(Question(kind: .where, question: asking.trimmingCharacters(in: .punctuationCharacters) + "?",
                                      answer: answer))
            }
        }
        if let b = rest.firstIndex(of: "because"), (1...12).contains(b), rest.count - b - 1 <= 14, rest.count - b - 1 >= 2 {
            let before = rest[..<b].joined(separator: " ").trimmingCharacters(in: .punctuationCharacters)
            found.append(Question(kind: .why, question: "Why did \(asked) \(base) \(before)?",
                                  answer: rest[b...].joined(separator: " ")))
        }
        return found
    }

    /// The sentence's subject (a character, with its title; or She/He/They), whether it is a pronoun, and where the
    /// verb after it is.
    static func subject(of words: [String], characters: Set<String>) -> (String, Bool, Int)? {
        if ["She", "He", "They"].contains(words[0]) { return (words[0], true, 1) }
        var i = titles.contains(words[0]) ? 1 : 0
        var parts: [String] = []
        while i < words.count, parts.count < 2, words[i].first?.isUppercase == true, words[i].allSatisfy(\.isLetter) {
            parts.append(words[i])
            i += 1
        }
        guard !parts.isEmpty, parts.allSatisfy(characters.contains), i < words.count else { return nil }
        return (words[..<i].joined(separator: " "), false, i)
    }

    /// Words up to the first clause break (";", ":", ", and", ", but", ", for", ", though").
    static func clause(_ words: [String]) -> [String] {
        var out: [String] = []
        for (i, word) in words.enumerated() {
            if word.hasSuffix(";") || word.hasSuffix(":") { out.append(String(word.dropLast())); break }
            if word.hasSuffix(","), i + 1 < words.count, ["and", "but", "for", "though"].contains(words[i + 1]) {
                out.append(String(word.dropLast())); break
            }
            out.append(word)
        }
        return out
    }

    /// Words up to (not including) one in `ends` or one ending in a comma/semicolon (which is kept, trimmed).
    static func prefix(_ words: [String], endingAt ends: Set<String>) -> [String] {
        var out: [String] = []
        for word in words {
            if ends.contains(word) { break }
            if word.hasSuffix(",") || word.hasSuffix(";") { out.append(String(word.dropLast())); break }
            out.append(word)
        }
        return out
    }

    static func trimmed(_ words: [String]) -> String {
        words.joined(separator: " ").trimmingCharacters(in: .punctuationCharacters)
    }

    /// Up to `options.limit` examples from one document, chosen with `options.seed`; every answer is checked to
    /// occur in its passage.
    public static func examples(document: String, options: Options) -> [Example] {
        let passages = passages(of: document, words: options.passageWords)
        let bookNames = names(in: document)
        var candidates: [(passage: Int, question: Question)] = []
        for (p, passage) in passages.enumerated() {
            for sentence in sentences(of: passage.replacingOccurrences(of: "\n", with: " ")) {
                for q in questions(in: sentence, names: bookNames, maxWords: options.maxSentenceWords)
                where passage.contains(q.answer) {
                    candidates.append((p, q))
                }
            }
        }
        var rng = SplitMix64(seed: options.seed)
        var taken: [Kind: Int] = [:]
        var examples: [Example] = []
        while !candidates.isEmpty, examples.count < options.limit {
            let (p, q) = candidates.remove(at: rng.uniform(below: candidates.count))
            guard Double(taken[q.kind, default: 0]) < (options.kindShares[q.kind] ?? 0) * Double(options.limit) else { continue }
            taken[q.kind, default: 0] += 1
            let near = (max(0, p - options.nearWindow)...min(passages.count - 1, p + options.nearWindow)).filter { $0 != p }
            var chosen = Set(sample(near, count: options.nearDistractors, rng: &rng))
            let far = passages.indices.filter { $0 != p && !chosen.contains($0) }
            chosen.formUnion(sample(far, count: 1 + rng.uniform(below: 2), rng: &rng))
            let answerable = rng.nextUnit() >= options.unanswerableFraction
            if answerable { chosen.insert(p) }
            var example = Example(kind: q.kind, question: q.question, answer: answerable ? q.answer : notInEvidence,
                                  passages: chosen.sorted().map { passages[$0] })
            if options.renameCharacters { example = renamed(example, characters: bookNames.characters, rng: &rng) }
            examples.append(example)
        }
        return examples
    }

    /// Names given to characters instead of the book's own (`renamed`).
    static let stockNames = """
        Abel Ada Agnes Albert Alfred Alice Amelia Amos Anne Arthur Barnaby Beatrice Bella Benjamin Bertha Caleb Caroline
        Cecil Charity Charles Clara Clement Cora Daniel Dora Dorothy Edgar Edith Edmund Eleanor Eliza Ellen Emily Ernest
        Esther Ethel Felix Flora Frances Frederick Gilbert Grace Hannah Harold Harriet Hector Helen Henry Hester Horace
        Hugh Isaac Isabel Ivy Jacob Jane Jasper Jemima Joan Jonah Josiah Julia Kate Laura Leonard Letitia Lewis Lilian
        Louisa Lucy Lydia Mabel Margaret Martha Matilda Maud Miles Milly Nancy Nathan Ned Nell Oliver Oswald Patience
        Percy Philip Phoebe Priscilla Ralph Rebecca Reuben Rhoda Robert Rose Ruth Samuel Sarah Selina Silas Simon
        Sophia Stephen Susan Theodore Thomas Ursula Vincent Walter Wilfred Winifred Abbot Ashby Barlow Beckett Blake
        Bramley Carver Chalmers Cobb Denby Dunmore Ellis Fenwick Garland Gresham Hale Harcourt Holloway Kendall Lambert
        Lowther Marsh Merrick Norbury Oakley Pembroke Prescott Radley Rowe Sedley Thorne Thursby Vane Wardle Whitby
        """.split(whereSeparator: \.isWhitespace).map(String.init)

    /// The example with every character of the book it mentions renamed, the same way in the question, the answer
    /// and every passage. A reader trained on the book's own names learns their frequencies ("Who …?" → the
    /// heroine: a first run answered "Emma" to nearly every Alice question) instead of reading the evidence;
    /// renamed, only the evidence tells who.
    static func renamed(_ example: Example, characters: Set<String>, rng: inout SplitMix64) -> Example {
        // One pass over the texts' words, not one per character name.
        let words = Set(([example.question, example.answer] + example.passages).flatMap {
            $0.split { !$0.isLetter }.map(String.init)
        })
        let present = characters.intersection(words).sorted()
        var pool = stockNames.filter { !characters.contains($0) }
        var mapping: [String: String] = [:]
        for name in present where !pool.isEmpty { mapping[name] = pool.remove(at: rng.uniform(below: pool.count)) }
        func apply(_ text: String) -> String { replacingWords(in: text, mapping) }
        return Example(kind: example.kind, question: apply(example.question), answer: apply(example.answer),
                       passages: example.passages.map(apply))
    }

    /// `text` with each whole word that is a key of `mapping` (letters on neither side) replaced by its value.
    static func replacingWords(in text: String, _ mapping: [String: String]) -> String {
        guard !mapping.isEmpty else { return text }
        var out = ""
        var word = ""
        for character in text {
            if character.isLetter { word.append(character); continue }
            out += mapping[word] ?? word
            word = ""
            out.append(character)
        }
        return out + (mapping[word] ?? word)
    }

    static func sample(_ items: [Int], count: Int, rng: inout SplitMix64) -> [Int] {
        var pool = items
        var out: [Int] = []
        while out.count < count, !pool.isEmpty { out.append(pool.remove(at: rng.uniform(below: pool.count))) }
        return out
    }

    /// The `data sft` line of one example: no memory, the answering prompt with the passages and the question, and
    /// the answer as the reply — the turns the pipeline's local generator is given.
    public static func jsonLine(_ example: Example, source: String, prompts: PromptSet) throws -> String {
        let prompt = prompts.qaGeneration.filling(["context": example.passages.joined(separator: "\n\n"),
                                                   "input": example.question])
        let object: [String: Any] = [
            "task": "answer", "memory_turns": 0, "source": source, "kind": example.kind.rawValue,
            "conversations": [["role": "user", "content": prompt], ["role": "assistant", "content": example.answer]],
        ]
        return try ClueSynthesis.jsonLine(object)
    }
}
