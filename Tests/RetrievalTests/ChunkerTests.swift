import Foundation
import Retrieval
import TestSupport
import Tokenizers
import Torch
import XCTest

/// Chunker invariants with a WordPiece (all-MiniLM-L6-v2) and a byte-level BPE (SmolLM2) tokenizer.
final class ChunkerTests: XCTestCase {
    private static let words = ["the", "river", "remembered", "every", "lantern", "quietly", "although", "nobody",
                                "answered", "a", "letter", "from", "Wonderland", "beneath", "twelve", "bridges",
                                "extraordinarily", "café", "naïve", "co-operation", "1865", "Mr.", "Dodgson's"]

    /// Paragraphs of sentences of random words, with the odd long paragraph and a line-broken verse.
    private func prose(paragraphs: Int, seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed)
        var result: [String] = []
        for p in 0..<paragraphs {
            let sentences = p % 7 == 3 ? 40 : Int.random(in: 1...6, using: &rng)
            let paragraph = (0..<sentences).map { _ -> String in
                let body = (0..<Int.random(in: 4...18, using: &rng)).map { _ in Self.words.randomElement(using: &rng)! }
                return body.joined(separator: " ").capitalized + [".", "!", "?", "…", ".\u{201D}"].randomElement(using: &rng)!
            }
            result.append(p % 5 == 4 ? paragraph.joined(separator: "\n") : paragraph.joined(separator: " "))
        }
        return "  " + result.joined(separator: p(&rng)) + "\n"
    }

    private func p(_ rng: inout SplitMix64) -> String { ["\n\n", "\n \n\t", "\r\n\r\n"].randomElement(using: &rng)! }

    private func wordPiece() throws -> any Tokenizer { try loadTokenizer(directory: Paths.requireMiniLM()) }
    private func smolBPE() throws -> any Tokenizer { try loadTokenizer(directory: Paths.smolLM2) }

    /// Every chunk within the budget, its text at its offsets, in order, with only whitespace between and around.
    private func assertInvariants(_ result: ChunkingResult, text: String, tokenizer: any Tokenizer, maxTokens: Int,
                                  firstId: Int = 0, document: String = "doc", file: StaticString = #filePath, line: UInt = #line) {
        let scalars = Array(text.unicodeScalars)
        func slice(_ r: Range<Int>) -> String { var v = String.UnicodeScalarView(); v.append(contentsOf: scalars[r]); return String(v) }
        func isBlank(_ r: Range<Int>) -> Bool { scalars[r].allSatisfy { $0.properties.isWhitespace } }
        XCTAssertFalse(result.chunks.isEmpty, file: file, line: line)
        var previousEnd = 0
        var rebuilt = ""
        for (offset, chunk) in result.chunks.enumerated() {
            XCTAssertEqual(chunk.id, firstId + offset, file: file, line: line)
            XCTAssertEqual(chunk.doc, document, file: file, line: line)
            XCTAssertLessThan(chunk.start, chunk.end, file: file, line: line)
            XCTAssertGreaterThanOrEqual(chunk.start, previousEnd, "chunks do not overlap", file: file, line: line)
            XCTAssertEqual(slice(chunk.start..<chunk.end), chunk.text, file: file, line: line)
            XCTAssertTrue(isBlank(previousEnd..<chunk.start), "gap before chunk \(chunk.id) is whitespace", file: file, line: line)
            XCTAssertFalse(chunk.text.unicodeScalars.first!.properties.isWhitespace, file: file, line: line)
            XCTAssertFalse(chunk.text.unicodeScalars.last!.properties.isWhitespace, file: file, line: line)
            let count = tokenizer.encode(chunk.text, addSpecialTokens: false).count
            XCTAssertLessThanOrEqual(count, maxTokens, "chunk \(chunk.id) has \(count) tokens", file: file, line: line)
            rebuilt += slice(previousEnd..<chunk.start) + chunk.text
            previousEnd = chunk.end
        }
        XCTAssertTrue(isBlank(previousEnd..<scalars.count), file: file, line: line)
        rebuilt += slice(previousEnd..<scalars.count)
        XCTAssertEqual(rebuilt, text, "chunks and gaps give back the text", file: file, line: line)
    }

    func testProseWithBothTokenizers() throws {
        let text = prose(paragraphs: 60, seed: 7)
        for (tokenizer, budget, additive) in [(try wordPiece(), 64, true), (try smolBPE(), 64, false), (try wordPiece(), 254, true),
                                              (try smolBPE(), 20, false)] {
            let result = try Chunker(tokenizer: tokenizer, maxTokens: budget).chunk(text, document: "doc", firstId: 5)
            assertInvariants(result, text: text, tokenizer: tokenizer, maxTokens: budget, firstId: 5)
            XCTAssertEqual(result.truncatedChunkIds, [])
            // Packing: two neighbours never fit together. WordPiece counts add up over whitespace, so the chunker's
            // estimate is exact there; byte-level BPE counts need not, and it may leave a merge that would just fit.
            guard additive else { continue }
            for (a, b) in zip(result.chunks, result.chunks.dropFirst()) {
                let merged = String(text.unicodeScalars.dropFirst(a.start).prefix(b.end - a.start))
                XCTAssertGreaterThan(tokenizer.encode(merged, addSpecialTokens: false).count, budget, "chunks \(a.id)+\(b.id) fit together")
            }
        }
    }

    /// Paragraphs that fit are never cut: every chunk starts at a paragraph start.
    func testParagraphBoundariesComeFirst() throws {
        let paragraphs = (0..<12).map { i in "Paragraph \(i) has a few short sentences. They fit easily. Nothing more." }
        let text = paragraphs.joined(separator: "\n\n")
        let tokenizer = try wordPiece()
        let result = try Chunker(tokenizer: tokenizer, maxTokens: 40).chunk(text, document: "d")
        assertInvariants(result, text: text, tokenizer: tokenizer, maxTokens: 40, document: "d")
        XCTAssertGreaterThan(result.chunks.count, 1)
        for chunk in result.chunks { XCTAssertTrue(chunk.text.hasPrefix("Paragraph"), chunk.text) }
        // One over-long paragraph is cut at sentence ends.
        let long = (0..<30).map { "Sentence number \($0) ends here." }.joined(separator: " ")
        let sentences = try Chunker(tokenizer: tokenizer, maxTokens: 24).chunk(long, document: "d")
        assertInvariants(sentences, text: long, tokenizer: tokenizer, maxTokens: 24, document: "d")
        for chunk in sentences.chunks { XCTAssertTrue(chunk.text.hasPrefix("Sentence") && chunk.text.hasSuffix("here."), chunk.text) }
    }

    func testCJKSentences() throws {
        let sentence = ["爱丽丝坐在河边，觉得非常无聊。", "她姐姐在读一本书，书里没有图画也没有对话！", "一本书没有图画和对话有什么用呢？",
                        "突然一只粉红眼睛的白兔跑过她身边。", "「我要迟到了！」兔子说。"]
        let text = (0..<20).map { sentence[$0 % sentence.count] }.joined() + "\n\n" + "第二段。" + (0..<8).map { sentence[$0 % 5] }.joined()
        for tokenizer in [try wordPiece(), try smolBPE()] {
            let budget = max(40, sentence.map { tokenizer.encode($0, addSpecialTokens: false).count }.max()! + 4)
            let result = try Chunker(tokenizer: tokenizer, maxTokens: budget).chunk(text, document: "cjk")
            assertInvariants(result, text: text, tokenizer: tokenizer, maxTokens: budget, document: "cjk")
            XCTAssertGreaterThan(result.chunks.count, 3)
            // Each sentence fits on its own, so every chunk ends at sentence punctuation (or its closing bracket).
            for chunk in result.chunks { XCTAssertTrue("。！？」".contains(chunk.text.last!), chunk.text) }
        }
    }

    func testOverlongWordIsSplitOnTokens() throws {
        let word = String(repeating: "antidisestablishmentarianism", count: 3)  // 84 letters: WordPiece reads it (≤ 100)
        let text = "A word: \(word) and then more words follow it."
        let wp = try wordPiece()
        XCTAssertGreaterThan(wp.encode(word, addSpecialTokens: false).count, 8)
        let result = try Chunker(tokenizer: wp, maxTokens: 8).chunk(text, document: "w")
        assertInvariants(result, text: text, tokenizer: wp, maxTokens: 8, document: "w")
        // A run without spaces (and multi-scalar characters) through byte-level BPE.
        let run = String(repeating: "👩‍👩‍👧‍👦e\u{301}xyz", count: 60) + "\n" + String(repeating: "ab", count: 500)
        let bpe = try smolBPE()
        XCTAssertGreaterThan(bpe.encode("👩‍👩‍👧‍👦", addSpecialTokens: false).count, 16)
        // A budget below one family emoji's tokens: it is cut between its scalars, the only way to stay within it.
        let scalarPieces = try Chunker(tokenizer: bpe, maxTokens: 16).chunk(run, document: "w")
        assertInvariants(scalarPieces, text: run, tokenizer: bpe, maxTokens: 16, document: "w")
        let pieces = try Chunker(tokenizer: bpe, maxTokens: 40).chunk(run, document: "w")
        assertInvariants(pieces, text: run, tokenizer: bpe, maxTokens: 40, document: "w")
        // Characters (grapheme clusters) are not torn apart: chunks begin and end on Character boundaries.
        var boundaries: Set<Int> = [0]
        var offset = 0
        for character in run { offset += character.unicodeScalars.count; boundaries.insert(offset) }
        for chunk in pieces.chunks {
            XCTAssertTrue(boundaries.contains(chunk.start) && boundaries.contains(chunk.end), "chunk \(chunk.id): \(chunk.text)")
        }
    }

    func testEmptyTextAndTinyBudgetAreErrors() throws {
        let tokenizer = try smolBPE()
        for text in ["", "   ", "\n\t \u{3000}\n"] {
            XCTAssertThrowsError(try Chunker(tokenizer: tokenizer, maxTokens: 64).chunk(text, document: "blank")) { error in
                XCTAssertEqual(error as? RetrievalError, .emptyText(document: "blank"))
            }
        }
        XCTAssertThrowsError(try Chunker(tokenizer: tokenizer, maxTokens: 4).chunk("some text", document: "d")) { error in
            guard case .invalidArgument? = error as? RetrievalError else { return XCTFail("\(error)") }
        }
    }

    /// Chunks sized by the embedder are never truncated; a chunker measuring with another tokenizer reports the
    /// chunks all-MiniLM-L6-v2 would cut.
    func testEmbedderSizedChunksAreNotTruncated() throws {
        let embedder = try Embedder(directory: Paths.requireMiniLM())
        XCTAssertEqual(embedder.maxSequenceLength, 256)
        XCTAssertEqual(embedder.maxContentTokens, 254)
        let text = prose(paragraphs: 40, seed: 11)
        let sized = Chunker(embedder: embedder)
        XCTAssertEqual(sized.maxTokens, 254)
        let result = try sized.chunk(text, document: "book")
        assertInvariants(result, text: text, tokenizer: embedder.tokenizer, maxTokens: 254, document: "book")
        XCTAssertEqual(result.truncatedChunkIds, [])
        XCTAssertTrue(result.chunks.allSatisfy { !embedder.wouldTruncate($0.text) })

        let bpe = try smolBPE()
        let loose = Chunker(tokenizer: bpe, maxTokens: 600, truncationCheck: { embedder.wouldTruncate($0) })
        let looseResult = try loose.chunk(text, document: "book")
        let expected = looseResult.chunks.filter { embedder.wouldTruncate($0.text) }.map(\.id)
        XCTAssertFalse(expected.isEmpty)
        XCTAssertEqual(looseResult.truncatedChunkIds, expected)
    }

    /// The chunks.jsonl line format, and offsets that are Python `str` indices (checked by Python itself).
    func testChunksJSONLinesMatchPythonOffsets() throws {
        let text = "Émile’s café 👩‍👩‍👧 opened.\r\n\r\n爱丽丝说：「你好！」然后走了。\n\nZero\u{200B}width and e\u{301} combining. "
            + prose(paragraphs: 6, seed: 3)
        let tokenizer = try smolBPE()
        let result = try Chunker(tokenizer: tokenizer, maxTokens: 12).chunk(text, document: "mixed.txt")
        assertInvariants(result, text: text, tokenizer: tokenizer, maxTokens: 12, document: "mixed.txt")
        let line = String(decoding: try JSONEncoder().encode(result.chunks[0]), as: UTF8.self)
        let keys = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        XCTAssertEqual(Set(keys.keys), ["id", "text", "start", "end", "doc"])
        XCTAssertEqual(try JSONDecoder().decode(Chunk.self, from: Data(line.utf8)), result.chunks[0])

        let directory = try temporaryDirectory("memorag-chunks")
        defer { try? FileManager.default.removeItem(at: directory) }
        let documentURL = directory.appendingPathComponent("doc.txt"), chunksURL = directory.appendingPathComponent("chunks.jsonl")
        try Data(text.utf8).write(to: documentURL)
        let lines = try result.chunks.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: chunksURL)
        try runFixtureScript("check_chunk_offsets.py", [documentURL.path, chunksURL.path])
    }
}
