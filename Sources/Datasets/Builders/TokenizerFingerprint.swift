import Foundation
import Tokenizers
import Torch

/// The tokenizer a store was made with, identified by the sha256 of its `tokenizer.json` bytes (the
/// `tokenizer_sha256` attribute of both stores).
public enum TokenizerFingerprint {
    public static func sha256(directory: URL) throws -> String {
        let file = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw DataError.unreadable(path: file.path, reason: "no tokenizer.json in the tokenizer directory")
        }
        return try SHA256.hex(fileAt: file)
    }
}

extension Tokenizer {
    /// Encodes a long text in pieces of about `pieceBytes`, cut just before a blank line ("\n\n") so each cut falls
    /// where the pre-tokenizer splits anyway: the ids equal those of encoding the whole text at once, with bounded
    /// working memory.
    public func encodeLong(_ text: String, pieceBytes: Int = 1 << 18) -> [Int] {
        guard text.utf8.count > pieceBytes else { return encode(text, addSpecialTokens: false) }
        var ids: [Int] = []
        var start = text.startIndex
        while start < text.endIndex {
            var end = text.utf8.index(start, offsetBy: pieceBytes, limitedBy: text.endIndex) ?? text.endIndex
            if end < text.endIndex {
                // Move the cut to the next "\n\n" that follows a non-whitespace character.
                if let r = text.range(of: "\n\n", range: end..<text.endIndex) {
                    var cut = r.lowerBound
                    // Stay at the start of the whole whitespace run (the run belongs to the next piece).
                    while cut > start, text[text.index(before: cut)].isWhitespace { cut = text.index(before: cut) }
                    end = cut > start ? cut : r.upperBound
                } else {
                    end = text.endIndex
                }
            }
            ids += encode(String(text[start..<end]), addSpecialTokens: false)
            start = end
        }
        return ids
    }
}
