import Foundation
import TestSupport
import XCTest
@testable import Tokenizers

/// all-MiniLM-L6-v2's WordPiece tokenizer against HF `tokenizers` (Fixtures/make_wordpiece_fixtures.py wrote
/// wordpiece_cases.json from the same model files this test loads).
final class WordPieceTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let truncated_256: Bool
        let ids_256: [Int]?
        let decoded: String
        let decoded_with_special: String
    }

    struct DecodeCase: Decodable {
        let ids: [Int]
        let decoded: String
        let decoded_with_special: String
    }

    struct Fixture: Decodable {
        let max_length: Int
        let cases: [Case]
        let decode_cases: [DecodeCase]
    }

    static let fixture: Fixture = {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
            .appendingPathComponent("wordpiece_cases.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// $MEMORAG_CACHE/models/all-MiniLM-L6-v2 (default ~/.cache/memorag).
    static var modelDirectory: URL { InstalledModels.miniLM }

    func modelFile(_ name: String) throws -> URL {
        let url = Self.modelDirectory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("\(url.path) is missing: run scripts/fetch-models.sh")
            throw XCTSkip("model files missing")
        }
        return url
    }

    func loadJSONTokenizer() throws -> WordPieceTokenizer {
        let url = try modelFile("tokenizer.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return try WordPieceTokenizer(tokenizerJSON: json, path: url.path)
    }

    func check(_ tokenizer: WordPieceTokenizer, decode: Bool, file: StaticString = #filePath, line: UInt = #line) {
        let maxLength = Self.fixture.max_length
        var failures = 0
        for (index, item) in Self.fixture.cases.enumerated() {
            let label = "case \(index) \(item.text.prefix(60).debugDescription)"
            let ids = tokenizer.encode(item.text, addSpecialTokens: true)
            if ids != item.ids {
                failures += 1
                XCTFail("\(label): ids \(ids.prefix(40)) != HF \(item.ids.prefix(40))", file: file, line: line)
                continue
            }
            XCTAssertEqual(tokenizer.encode(item.text, addSpecialTokens: false), Array(item.ids.dropFirst().dropLast()),
                           label, file: file, line: line)
            let cut = tokenizer.encodeReportingTruncation(item.text, maxLength: maxLength)
            XCTAssertEqual(cut.ids, item.ids_256 ?? item.ids, label, file: file, line: line)
            XCTAssertEqual(cut.truncated, item.truncated_256, label, file: file, line: line)
            XCTAssertLessThanOrEqual(cut.ids.count, maxLength, label, file: file, line: line)
            if decode {
                XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), item.decoded, label, file: file, line: line)
                XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), item.decoded_with_special, label,
                               file: file, line: line)
            }
        }
        XCTAssertEqual(failures, 0, "cases whose ids differ from HF", file: file, line: line)
    }

    func testFixtureCoversEnoughStrings() {
        XCTAssertGreaterThanOrEqual(Self.fixture.cases.count, 200)
        XCTAssertGreaterThan(Self.fixture.cases.filter(\.truncated_256).count, 3)
    }

    func testTokenizerJSONMatchesHF() throws {
        check(try loadJSONTokenizer(), decode: true)
    }

    func testVocabTXTMatchesHF() throws {
        let tokenizer = try WordPieceTokenizer(vocabTXT: try modelFile("vocab.txt"))
        check(tokenizer, decode: true)
        XCTAssertEqual(tokenizer.modelMaxLength, 512)
    }

    func testDecodeMatchesHF() throws {
        let tokenizer = try loadJSONTokenizer()
        for item in Self.fixture.decode_cases {
            XCTAssertEqual(tokenizer.decode(item.ids, skipSpecialTokens: true), item.decoded, "\(item.ids)")
            XCTAssertEqual(tokenizer.decode(item.ids, skipSpecialTokens: false), item.decoded_with_special, "\(item.ids)")
        }
    }

    func testVocabularyAndSpecialTokens() throws {
        let tokenizer = try loadJSONTokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 30522)
        XCTAssertEqual(tokenizer.specialTokens, SpecialTokens(pad: 0, unk: 100))
        XCTAssertEqual(tokenizer.clsID, 101)
        XCTAssertEqual(tokenizer.sepID, 102)
        XCTAssertEqual(tokenizer.maskID, 103)
        XCTAssertEqual(tokenizer.padID, 0)
        XCTAssertEqual(tokenizer.configuredTruncation, 128)
        XCTAssertEqual(tokenizer.token(for: 101), "[CLS]")
        XCTAssertEqual(tokenizer.token(for: 7592), "hello")
        XCTAssertNil(tokenizer.token(for: 30522))
        XCTAssertNil(tokenizer.token(for: -1))
        XCTAssertEqual(tokenizer.id(for: "hello"), 7592)
        XCTAssertEqual(tokenizer.id(for: "[SEP]"), 102)
        XCTAssertEqual(tokenizer.id(for: "##s"), 2015)
        XCTAssertNil(tokenizer.id(for: "not-a-token"))
        // The same through the protocol.
        let generic: any Tokenizer = tokenizer
        XCTAssertEqual(generic.encode("hello", addSpecialTokens: true), [101, 7592, 102])
    }

    func testLoadTokenizerPicksWordPiece() throws {
        _ = try modelFile("tokenizer.json")
        let tokenizer = try loadTokenizer(directory: Self.modelDirectory)
        XCTAssertTrue(tokenizer is WordPieceTokenizer)
        for item in Self.fixture.cases.prefix(50) {
            XCTAssertEqual(tokenizer.encode(item.text, addSpecialTokens: true), item.ids)
        }
    }

    func testTruncation() throws {
        let tokenizer = try loadJSONTokenizer()
        let text = "untokenizable " + String(repeating: "hello ", count: 10)  // unto ##ken ##iza ##ble + 10
        let full = tokenizer.encode(text, addSpecialTokens: true)
        XCTAssertEqual(full.count, 16)
        // Exactly fits.
        XCTAssertEqual(tokenizer.encodeReportingTruncation(text, maxLength: 16).truncated, false)
        XCTAssertEqual(tokenizer.encodeReportingTruncation(text, maxLength: 16).ids, full)
        // One short: [CLS] + first 13 + [SEP].
        let cut = tokenizer.encodeReportingTruncation(text, maxLength: 15)
        XCTAssertTrue(cut.truncated)
        XCTAssertEqual(cut.ids, Array(full.prefix(14)) + [102])
        // Cutting inside a word keeps its first pieces.
        XCTAssertEqual(tokenizer.encode(text, maxLength: 4), [101, full[1], full[2], 102])
        // Without special tokens the whole budget is word pieces.
        let bare = tokenizer.encodeReportingTruncation(text, addSpecialTokens: false, maxLength: 3)
        XCTAssertEqual(bare.ids, Array(full[1...3]))
        XCTAssertTrue(bare.truncated)
        // A budget smaller than the markers leaves only the markers.
        XCTAssertEqual(tokenizer.encode(text, maxLength: 1), [101, 102])
        XCTAssertEqual(tokenizer.encodeReportingTruncation("", maxLength: 8).ids, [101, 102])
        XCTAssertFalse(tokenizer.encodeReportingTruncation("", maxLength: 8).truncated)
    }

    func testEncodeBatchPadsToLongest() throws {
        let tokenizer = try loadJSONTokenizer()
        let texts = ["hello world", "a much longer sentence than the first one", "", String(repeating: "word ", count: 50)]
        let batch = tokenizer.encodeBatch(texts, maxLength: 12)
        XCTAssertEqual(batch.ids.count, 4)
        XCTAssertEqual(Set(batch.ids.map(\.count)), [12])
        XCTAssertEqual(Set(batch.mask.map(\.count)), [12])
        for (text, (row, mask)) in zip(texts, zip(batch.ids, batch.mask)) {
            let ids = tokenizer.encode(text, maxLength: 12)
            XCTAssertEqual(Array(row.prefix(ids.count)), ids)
            XCTAssertEqual(mask, [Int](repeating: 1, count: ids.count) + [Int](repeating: 0, count: 12 - ids.count))
            XCTAssertTrue(row.dropFirst(ids.count).allSatisfy { $0 == tokenizer.padID })
        }
        let short = tokenizer.encodeBatch(["hi", "hello there"], maxLength: 256)
        XCTAssertEqual(short.ids, [[101, 7632, 102, 0], [101, 7592, 2045, 102]])
        XCTAssertEqual(short.mask, [[1, 1, 1, 0], [1, 1, 1, 1]])
        XCTAssertTrue(tokenizer.encodeBatch([], maxLength: 8).ids.isEmpty)
    }

    func testAddedTokenOptions() {
        // lstrip / rstrip / single_word on a toy vocabulary.
        let vocab = ["[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "<mask>": 3, "a": 4, "b": 5, "##b": 6]
        func make(_ entry: AddedToken) throws -> WordPieceTokenizer {
            try WordPieceTokenizer(
                vocab: vocab, unkToken: "[UNK]", prefix: "##", maxInputCharsPerWord: 100,
                normalizer: BertNormalizer(cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true),
                preTokenize: true, added: [entry], specialIDs: [3], prefixIDs: [1], suffixIDs: [2],
                decoder: WordPieceDecoder(prefix: "##", cleanup: true), padID: nil, modelMaxLength: 512,
                configuredTruncation: nil, path: "toy")
        }
        let plain = AddedToken(id: 3, content: "<mask>", special: true)
        var strip = plain
        strip.lstrip = true
        strip.rstrip = true
        var single = plain
        single.singleWord = true
        XCTAssertEqual(try make(plain).encode("a <mask> b", addSpecialTokens: false), [4, 3, 5])
        XCTAssertEqual(try make(strip).encode("a <mask> b", addSpecialTokens: false), [4, 3, 5])
        // Not between non-word characters: no match, so "<", "mask", ">" are WordPiece words ([UNK] here).
        XCTAssertEqual(try make(single).encode("a<mask>b", addSpecialTokens: false), [4, 0, 0, 0, 5])
        XCTAssertEqual(try make(single).encode("a <mask> b", addSpecialTokens: false), [4, 3, 5])
        XCTAssertEqual(try make(plain).decode([4, 6, 3, 5], skipSpecialTokens: true), "ab b")
    }

    func testVocabTXTWithCRLFLines() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vocab-\(UUID().uuidString).txt")
        try Data("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n##s \r\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let tokenizer = try WordPieceTokenizer(vocabTXT: url)
        XCTAssertEqual(tokenizer.encode("Héllos [SEP]", addSpecialTokens: true), [2, 4, 5, 3, 3])
        XCTAssertEqual(tokenizer.vocabularySize, 6)
        XCTAssertEqual(tokenizer.decode([2, 4, 5, 3], skipSpecialTokens: true), "hellos")
    }

    func testLoadErrorsNameTheFile() throws {
        XCTAssertThrowsError(try WordPieceTokenizer(tokenizerJSON: [:], path: "/x/tokenizer.json")) { error in
            XCTAssertTrue("\(error.localizedDescription)".contains("/x/tokenizer.json"))
        }
        let bpe: [String: Any] = ["model": ["type": "BPE", "vocab": [:], "merges": []]]
        XCTAssertThrowsError(try WordPieceTokenizer(tokenizerJSON: bpe, path: "bpe.json"))
        let noUnk: [String: Any] = ["model": ["type": "WordPiece", "vocab": ["a": 0]]]
        XCTAssertThrowsError(try WordPieceTokenizer(tokenizerJSON: noUnk, path: "nounk.json"))
        XCTAssertThrowsError(try WordPieceTokenizer(vocabTXT: URL(fileURLWithPath: "/nonexistent/vocab.txt")))
    }

    func testUnicodeOverrideTablesAreSortedAndDisjoint() {
        for table in [HFUnicodeTables.other, HFUnicodeTables.punctuation, HFUnicodeTables.nonspacingMark] {
            for (a, b) in zip(table, table.dropFirst()) {
                XCTAssertLessThanOrEqual(a.0, a.1)
                XCTAssertLessThan(a.1, b.0)
            }
        }
        XCTAssertEqual(HFUnicodeTables.punctuationOverride(0x166D), true)
        XCTAssertEqual(HFUnicodeTables.punctuationOverride(0x2E50), nil)
        XCTAssertEqual(HFUnicodeTables.nonspacingMarkOverride(0x1E000), false)
    }

    /// Our NFD (table + canonical reordering) against Foundation's on random runs of letters, precomposed
    /// letters, Hangul and combining marks of many classes.
    func testCanonicalDecompositionMatchesFoundation() {
        let pool: [ClosedRange<UInt32>] = [0x41...0x5A, 0xC0...0x17F, 0x1E00...0x1EFF, 0x300...0x36F, 0x591...0x5C7,
                                           0x64B...0x65F, 0x1DC0...0x1DFF, 0x20D0...0x20F0, 0xAC00...0xD7A3,
                                           0x1100...0x11FF, 0x0958...0x095F, 0xF900...0xFAD9, 0x1D15E...0x1D164]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var scalars: [Unicode.Scalar] = []
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                let range = pool.randomElement(using: &generator)!
                if let scalar = Unicode.Scalar(UInt32.random(in: range, using: &generator)) { scalars.append(scalar) }
            }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            let expected = Array(String(view).decomposedStringWithCanonicalMapping.unicodeScalars)
            XCTAssertEqual(CanonicalDecomposition.nfd(scalars), expected, "\(scalars.map { String($0.value, radix: 16) })")
        }
    }

    /// Tokenizes ~1 MB of English and prints the rate (compare with Benchmarks' HF figure; release builds only
    /// say something useful).
    func testSpeedOneMegabyte() throws {
        let tokenizer = try loadJSONTokenizer()
        let text = Self.fixture.cases.filter { $0.text.allSatisfy(\.isASCII) }.map(\.text).joined(separator: "\n")
        var corpus = ""
        while corpus.utf8.count < 1 << 20 { corpus += text + "\n" }
        let start = Date()
        let ids = tokenizer.encode(corpus, addSpecialTokens: true)
        let seconds = Date().timeIntervalSince(start)
        print("WordPiece: \(corpus.utf8.count) bytes -> \(ids.count) ids in \(String(format: "%.3f", seconds)) s")
        XCTAssertGreaterThan(ids.count, 50_000)
    }
}
