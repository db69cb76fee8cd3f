import Foundation

/// MemoRAG's clue hygiene, shared by the pipeline (`ask`) and the clue-feedback training stage so that a clue reply
/// is turned into search queries the same way where it is written and where it is scored: one clue per line, list
/// markers stripped, lines of three words or fewer dropped (for CJK text each ideograph counts as a word, since
/// Chinese lines have no spaces), and lines that only echo the memory turn's reply ("I have read the article…",
/// which small models like to repeat) or the question itself dropped.
public enum ClueLines {
    public static func lines(of reply: String, echoing memoryReply: String = "", question: String = "") -> [String] {
        let echo = memoryReply.lowercased().trimmingCharacters(in: .whitespacesAndNewlines)
        let asked = question.lowercased().trimmingCharacters(in: .whitespacesAndNewlines)
        return reply.split(whereSeparator: \.isNewline)
            .map { stripListMarker($0.trimmingCharacters(in: .whitespaces)) }
            .filter { line in
                let lower = line.lowercased()
                return wordCount(line) > 3 && (echo.isEmpty || !lower.hasPrefix(echo))
                    && (asked.isEmpty || !lower.contains(asked))  // "### Question: <the query>" echoed back
            }
    }

    /// "1. x", "- x", "* x" → "x", so numbered copies of one clue deduplicate.
    public static func stripListMarker(_ line: String) -> String {
        var rest = Substring(line)
        if let first = rest.first, "-*•".contains(first) { rest = rest.dropFirst() }
        else {
            let digits = rest.prefix(while: \.isNumber)
            if !digits.isEmpty, let mark = rest.dropFirst(digits.count).first, mark == "." || mark == ")" {
                rest = rest.dropFirst(digits.count + 1)
            }
        }
        return rest.trimmingCharacters(in: .whitespaces)
    }

    public static func wordCount(_ line: String) -> Int {
        var count = 0
        for word in line.split(whereSeparator: \.isWhitespace) {
            let ideographs = word.unicodeScalars.filter { (0x4E00...0x9FFF).contains($0.value) }.count
            count += max(1, ideographs)
        }
        return count
    }
}
