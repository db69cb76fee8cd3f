import Foundation

/// Turns the corpus packages' files into clean UTF-8 text: one paragraph per block, blocks separated by a blank line.
public enum CorpusText {
    /// Lines as R data packages keep books (one element per printed line, "" between paragraphs) joined back into
    /// paragraphs: consecutive non-empty lines are joined with a space.
    public static func paragraphs(fromLines lines: [String]) -> String {
        var paragraphs: [String] = []
        var current: [String] = []
        for raw in lines {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty {
                if !current.isEmpty { paragraphs.append(current.joined(separator: " ")) }
                current.removeAll()
            } else {
                current.append(line)
            }
        }
        if !current.isEmpty { paragraphs.append(current.joined(separator: " ")) }
        return paragraphs.joined(separator: "\n\n") + "\n"
    }

    /// CRLF and CR become LF, a byte-order mark is dropped, trailing spaces are trimmed and runs of blank lines
    /// become one blank line.
    public static func normalisedLines(_ text: String) -> String {
        var t = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if t.hasPrefix("\u{FEFF}") { t.removeFirst() }
        var out: [Substring] = []
        var blank = 0
        for line in t.split(separator: "\n", omittingEmptySubsequences: false) {
            var l = line
            while let last = l.last, last == " " || last == "\t" { l = l.dropLast() }
            if l.isEmpty {
                blank += 1
                if blank > 1 || out.isEmpty { continue }
            } else {
                blank = 0
            }
            out.append(l)
        }
        while out.last?.isEmpty == true { out.removeLast() }
        return out.joined(separator: "\n") + "\n"
    }

    /// The body of a Project Gutenberg text: what lies between the "*** START OF" and "*** END OF" (or "End of
    /// Project Gutenberg") lines; the whole text when there are no such markers.
    public static func gutenbergBody(_ text: String) -> String {
        let lines = normalisedLines(text).split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("*** START OF") || $0.hasPrefix("***START OF") })
        else { return normalisedLines(text) }
        let end = lines[(start + 1)...].firstIndex {
            $0.hasPrefix("*** END OF") || $0.hasPrefix("***END OF") || $0.hasPrefix("End of Project Gutenberg")
                || $0.hasPrefix("End of the Project Gutenberg")
        } ?? lines.endIndex
        return normalisedLines(lines[(start + 1)..<end].joined(separator: "\n"))
    }

    /// The KJV as `bible -f` prints it (one verse a line, "Ge1:1 In the beginning …") laid out as a chapter
    /// heading ("Ge 1") and one verse a line ("1 In the beginning …"), chapters separated by blank lines.
    public static func kjv(fromVerseLines text: String) throws -> String {
        var out = ""
        var chapter = ""
        for line in text.split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            let reference = line[..<space]
            let verseText = line[line.index(after: space)...].trimmingCharacters(in: .whitespaces)
            guard let colon = reference.lastIndex(of: ":"),
                  let digits = reference[..<colon].firstIndex(where: { $0.isNumber })
            else {
                throw DataError.corpus(source: "bible-kjv", reason: "unexpected verse line: \(line.prefix(60))")
            }
            let book = reference[..<digits]
            let here = "\(book) \(reference[digits..<colon])"
            if here != chapter {
                out += (out.isEmpty ? "" : "\n") + here + "\n\n"
                chapter = here
            }
            out += "\(reference[reference.index(after: colon)...]) \(verseText)\n"
        }
        return out
    }

    /// One GCIDE entry of dictd's plain-text form without its markup: source tags on their own lines
    /// ("[1913 Webster]", "[PJC]") are dropped, pronunciations between backslashes removed, cross-reference braces
    /// ({Afeard} → Afeard) and character escapes ([=a] → a) opened, and wrapped lines joined into paragraphs.
    public static func gcideEntry(_ entry: Substring) -> String {
        var paragraphs: [String] = []
        var current: [String] = []
        func flush() {
            if !current.isEmpty { paragraphs.append(current.joined(separator: " ")) }
            current.removeAll()
        }
        for rawLine in entry.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { flush(); continue }
            if line.hasPrefix("["), line.hasSuffix("]"), !line.dropFirst().contains("[") { flush(); continue }
            let cleaned = stripGCIDEMarkup(line)
            if !cleaned.isEmpty { current.append(cleaned) }
        }
        flush()
        return paragraphs.joined(separator: "\n")
    }

    static func stripGCIDEMarkup(_ line: String) -> String {
        var out = ""
        var chars = Array(line)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "\\", let close = chars[(i + 1)...].firstIndex(of: "\\"), close - i < 80 {
                i = close + 1  // pronunciation, e.g. \Af*fat"u*ate\
                while i < chars.count, chars[i] == "," { i += 1 }
                continue
            }
            if c == "{" || c == "}" { i += 1; continue }
            // Character escapes: [=a] [,e] ['e] (mark first) and [i^] [imac] [uum] [ae] (letter first).
            if c == "[", let close = chars[(i + 1)...].prefix(7).firstIndex(of: "]"),
               let letters = gcideEscape(String(chars[(i + 1)..<close])) {
                out += letters
                i = close + 1
                continue
            }
            out.append(c)
            i += 1
        }
        chars = Array(out)
        // Collapse the runs of spaces that removals leave.
        var collapsed = ""
        var lastSpace = false
        for c in chars {
            if c == " " { if !lastSpace { collapsed.append(c) }; lastSpace = true } else { collapsed.append(c); lastSpace = false }
        }
        return collapsed.trimmingCharacters(in: .whitespaces)
    }

    /// The text of a GCIDE character escape (the part between brackets), or nil when it is not one.
    static func gcideEscape(_ body: String) -> String? {
        let ligatures = ["ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "eth": "ð", "thorn": "þ", "root": "√"]
        if let l = ligatures[body] { return l }
        guard let first = body.first, body.count >= 2 else { return nil }
        if "=,'\"^~.-`".contains(first), body.dropFirst().allSatisfy({ $0.isLetter }), body.count <= 3 {
            return String(body.dropFirst())
        }
        guard first.isLetter else { return nil }
        let mark = body.dropFirst()
        let marks: Set<String> = ["^", "mac", "um", "cr", "dd", "grave", "acute", "`", "'", "ring", "til", "~", ".",
                                  ",", ":", "\"", "sd", "sl", "b", "it", "ced", "y", "br"]
        return marks.contains(String(mark)) ? String(first) : nil
    }

    /// Gutenberg prose with its hard line wrapping undone: the lines of a paragraph are joined with spaces, except
    /// in paragraphs with indented lines (verse, letters), which keep their line breaks.
    public static func reflowProse(_ text: String) -> String {
        let blocks = normalisedLines(text).components(separatedBy: "\n\n")
        return blocks.map { rawBlock -> String in
            let block = rawBlock.trimmingCharacters(in: .newlines)
            let lines = block.split(separator: "\n", omittingEmptySubsequences: true)
            if lines.contains(where: { $0.first == " " || $0.first == "\t" }) { return block }
            return lines.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        }.filter { !$0.isEmpty }.joined(separator: "\n\n") + "\n"
    }

    /// GCIDE from dictd's files: entries in index order (by offset, each once), the `00-database-*` headers left
    /// out, each entry cleaned by `gcideEntry`, entries separated by blank lines.
    public static func gcide(dictionary: Data, index: String) throws -> String {
        var spans: [(Int, Int)] = []
        var seen = Set<Int>()
        for line in index.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            guard fields.count >= 3 else { continue }
            if fields[0].hasPrefix("00-database") || fields[0].hasPrefix("00database") { continue }
            guard let offset = dictdBase64(fields[1]), let length = dictdBase64(fields[2]) else {
                throw DataError.corpus(source: "gcide.index", reason: "bad index line: \(line.prefix(60))")
            }
            if seen.insert(offset).inserted { spans.append((offset, length)) }
        }
        spans.sort { $0.0 < $1.0 }
        var out = ""
        out.reserveCapacity(dictionary.count)
        for (offset, length) in spans {
            guard offset + length <= dictionary.count else {
                throw DataError.corpus(source: "gcide.dict", reason: "index points past the dictionary's end")
            }
            let text = String(decoding: dictionary[offset..<(offset + length)], as: UTF8.self)
            let entry = gcideEntry(Substring(text))
            if !entry.isEmpty { out += entry + "\n\n" }
        }
        return out
    }

    /// dictd's base64 numbers (alphabet A–Z a–z 0–9 + /, most significant digit first).
    static func dictdBase64(_ s: Substring) -> Int? {
        var v = 0
        for ch in s.utf8 {
            let d: Int
            switch ch {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): d = Int(ch - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): d = Int(ch - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = Int(ch - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): d = 62
            case UInt8(ascii: "/"): d = 63
            default: return nil
            }
            v = v * 64 + d
        }
        return v
    }

    /// 呐喊 (Call to Arms) as the wordcloud package ships it: CRLF lines, "_分节阅读_N" page markers (dropped),
    /// full-width indentation (trimmed); one paragraph a line, paragraphs separated by blank lines.
    public static func nahan(_ text: String) -> String {
        let lines = normalisedLines(text).split(separator: "\n")
        let kept = lines.map { $0.trimmingCharacters(in: CharacterSet.whitespaces.union(["\u{3000}"])) }
            .filter { !$0.isEmpty && !$0.hasPrefix("_分节阅读_") }
        return kept.joined(separator: "\n\n") + "\n"
    }
}
