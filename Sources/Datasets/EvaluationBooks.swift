import Foundation
import Torch

/// *Pride and Prejudice* and *Persuasion* are the project's evaluation books (DESIGN §3): every training-set
/// builder calls `EvaluationBooks.refuse(text:source:)` on each input, which throws when the input is one of them
/// (by file name, by the sha256 of the text `data fetch-corpus` writes, or by a distinctive passage of the book, so
/// an excerpt, a re-wrapped copy or a JSONL record holding the text is caught too).
public enum EvaluationBooks {
    public struct Book: Sendable {
        public let title: String
        /// File-name stems (lowercased, letters only) that name this book.
        public let nameKeys: [String]
        /// Passages (whitespace-normalised, lowercased) that occur in the book and are unlikely elsewhere.
        public let passages: [String]
    }

    public static let books: [Book] = [
        Book(title: "Pride and Prejudice (Jane Austen)",
             nameKeys: ["prideprejudice", "prideandprejudice"],
             passages: ["it is a truth universally acknowledged, that a single man in possession of a good fortune",
                        "my dear mr. bennet,\" said his lady to him one day",
                        "mr. darcy soon drew the attention of the room by his fine, tall person"]),
        Book(title: "Persuasion (Jane Austen)",
             nameKeys: ["persuasion"],
             passages: ["sir walter elliot, of kellynch hall, in somersetshire, was a man who",
                        "she had been forced into prudence in her youth, she learned romance as she grew older",
                        "you pierce my soul. i am half agony, half hope"]),
    ]

    /// sha256 of the cleaned texts `data fetch-corpus` writes for them (janeaustenr 1.0.0).
    public static var knownSHA256: [String: String] { EvaluationBookHashes.all }

    /// The evaluation book `text` (named `source`) is, if any.
    public static func match(text: String, source: String) -> Book? {
        let stem = URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent.lowercased()
            .filter { $0.isLetter }
        if let book = books.first(where: { b in b.nameKeys.contains { stem.contains($0) } }) { return book }
        if let title = knownSHA256[SHA256.hex(text)], let book = books.first(where: { $0.title == title }) {
            return book
        }
        let normalised = normalise(text)
        return books.first { b in b.passages.contains { normalised.contains($0) } }
    }

    /// Throws `DataError.evaluationBook` when `text` is an evaluation book.
    public static func refuse(text: String, source: String) throws {
        if let book = match(text: text, source: source) {
            throw DataError.evaluationBook(source: source, book: book.title)
        }
    }

    /// Lowercased, curly quotes made straight, runs of whitespace made one space.
    static func normalise(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var lastWasSpace = false
        for ch in text.lowercased() {
            if ch.isWhitespace {
                if !lastWasSpace { out.append(" ") }
                lastWasSpace = true
                continue
            }
            lastWasSpace = false
            switch ch {
            case "\u{201C}", "\u{201D}": out.append("\"")
            case "\u{2018}", "\u{2019}": out.append("'")
            default: out.append(ch)
            }
        }
        return out
    }
}

/// Filled in from the files `data fetch-corpus` produced (see the test that checks them when the corpus is present).
enum EvaluationBookHashes {
    static let all: [String: String] = [
        "0770f4bae5c1392b0ce05d4b053df85e0837e30c1ec35c03661bafe2b7be7fee": "Pride and Prejudice (Jane Austen)",
        "5822e368a17a7167ddc3942a60335da0c1f9ae816ba10e8f26ed38788a4bf43d": "Persuasion (Jane Austen)",
    ]
}
