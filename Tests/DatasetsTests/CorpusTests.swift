import Foundation
import TestSupport
import Torch
import XCTest

@testable import Datasets

final class CorpusTests: XCTestCase {
    func fixture(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
    }

    /// The hand-encoded XDR database (Fixtures/rdata/make_rdata_fixture.py): strings with NA, UTF-8 and latin-1,
    /// attributes, an ALTREP compact sequence, symbol back-references and a version-2 stream.
    func testRSerialisationFixture() throws {
        let db = try RLazyLoadDB(base: fixture("rdata/tiny"))
        XCTAssertEqual(db.names, ["again", "book", "count", "seq"])
        XCTAssertEqual(try db.object("book"),
                       .string(["Title", "", "First line of a", "paragraph.", nil, "Café (UTF-8)", "naïve (latin1)"],
                               attributes: []))
        XCTAssertEqual(try db.lines("book")[4], "")
        let count = try db.object("count")
        guard case .integer(let values, _) = count else { return XCTFail("count is \(count)") }
        XCTAssertEqual(values, [1, nil, 3])
        XCTAssertEqual(count.names, ["a", "b", "c"])
        XCTAssertEqual(try db.object("seq"), .integer([1, 2, 3, 4, 5], attributes: []))
        let again = try db.object("again")
        guard case .list(let items, _) = again else { return XCTFail("again is \(again)") }
        XCTAssertEqual(items, [.real([2.5], attributes: []), .logical([1], attributes: [])])
        XCTAssertEqual(again.names, ["x", "y"])
        assertThrowsDataError(try db.object("missing"), containing: ["no object named missing"])
        assertThrowsDataError(try db.lines("count"), containing: ["not a character vector"])
    }

    func testDamagedRDataIsRefused() throws {
        let dir = try temporaryDirectory("rdata")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rdb = try Data(contentsOf: fixture("rdata/tiny.rdb"))
        try Data(contentsOf: fixture("rdata/tiny.rdx")).write(to: dir.appendingPathComponent("t.rdx"))
        // Truncated blobs file.
        try rdb.prefix(rdb.count - 20).write(to: dir.appendingPathComponent("t.rdb"))
        let db = try RLazyLoadDB(base: dir.appendingPathComponent("t"))
        assertThrowsDataError(try db.object("again"), containing: ["t.rdb", "again"])
        // Not XDR.
        assertThrowsDataError(try RUnserializer.unserialize(Data("A\n1\n".utf8), source: "ascii.rds"),
                              containing: ["ascii.rds", "not an XDR stream"])
        // A stream cut short.
        var stream = Data("X\n".utf8)
        stream.append(contentsOf: [0, 0, 0, 3, 0, 4, 2, 1, 0, 3, 5, 0, 0, 0, 0, 5])
        assertThrowsDataError(try RUnserializer.unserialize(stream, source: "short.rds"), containing: ["short.rds", "ends early"])
    }

    /// The real janeaustenr package, when `data fetch-corpus` (or MEMORAG_JANEAUSTENR=DIR of its data/Rdata) left it.
    func testRealJaneaustenr() throws {
        let env = ProcessInfo.processInfo.environment["MEMORAG_JANEAUSTENR"]
        let cached = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(
            ".cache/memorag/corpus/.downloads/deb-r-cran-janeaustenr/usr/lib/R/site-library/janeaustenr/data/Rdata")
        let base = env.map { URL(fileURLWithPath: $0) } ?? cached
        guard FileManager.default.fileExists(atPath: base.appendingPathExtension("rdx").path) else {
            throw XCTSkip("janeaustenr not unpacked (run memorag data fetch-corpus, or set MEMORAG_JANEAUSTENR)")
        }
        let db = try RLazyLoadDB(base: base)
        XCTAssertEqual(db.names, ["emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice",
                                  "sensesensibility"])
        let pride = CorpusText.paragraphs(fromLines: try db.lines("prideprejudice"))
        XCTAssertTrue(pride.hasPrefix("PRIDE AND PREJUDICE\n\nBy Jane Austen\n\nChapter 1\n\nIt is a truth universally "
                                      + "acknowledged, that a single man in possession of a good fortune, must be in want of a wife.\n\n"))
        XCTAssertEqual(EvaluationBooks.match(text: pride, source: "x.txt")?.title, "Pride and Prejudice (Jane Austen)")
        XCTAssertEqual(EvaluationBooks.knownSHA256[SHA256.hex(pride)], "Pride and Prejudice (Jane Austen)")
        let persuasion = CorpusText.paragraphs(fromLines: try db.lines("persuasion"))
        XCTAssertEqual(EvaluationBooks.knownSHA256[SHA256.hex(persuasion)], "Persuasion (Jane Austen)")
        let emma = CorpusText.paragraphs(fromLines: try db.lines("emma"))
        XCTAssertNil(EvaluationBooks.match(text: emma, source: "austen-emma.txt"))
        XCTAssertTrue(emma.contains("Emma Woodhouse, handsome, clever, and rich, with a comfortable home"))
    }

    func testTextCleaning() throws {
        XCTAssertEqual(CorpusText.paragraphs(fromLines: ["", "A b", "  c d ", "", "", "E", ""]), "A b c d\n\nE\n")
        let gutenberg = "\u{FEFF}Header\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\n\r\nBody one\r\nline\r\n\r\n\r\n"
            + "  verse a\r\n  verse b\r\nEnd of Project Gutenberg's X\r\nlicense"
        XCTAssertEqual(CorpusText.gutenbergBody(gutenberg), "Body one\nline\n\n  verse a\n  verse b\n")
        XCTAssertEqual(CorpusText.reflowProse(CorpusText.gutenbergBody(gutenberg)), "Body one line\n\n  verse a\n  verse b\n")
        XCTAssertEqual(try CorpusText.kjv(fromVerseLines: "Ge1:1 In the beginning.\nGe1:2 And the earth.\nEx2:1 And there went.\n"),
                       "Ge 1\n\n1 In the beginning.\n2 And the earth.\n\nEx 2\n\n1 And there went.\n")
        let entry = """
            Affect \\Af*fect"\\, v. t. [imp. & p. p. {Affected}; p. pr. & vb.
               n. {Affecting}.] [L. affectus; cf. F. affect[,e].]
               1. To act upon; to produce an effect upon; [ae]ther n[aum]ive.
                  [1913 Webster]

                        As might affect the earth with cold heat. --Milton.
                  [1913 Webster]
            """
        XCTAssertEqual(CorpusText.gcideEntry(Substring(entry)),
                       "Affect v. t. [imp. & p. p. Affected; p. pr. & vb. n. Affecting.] [L. affectus; cf. F. affecte.] "
                       + "1. To act upon; to produce an effect upon; æther naive.\nAs might affect the earth with cold heat. --Milton.")
        XCTAssertEqual(CorpusText.dictdBase64("5I"), 57 * 64 + 8)
        XCTAssertEqual(CorpusText.dictdBase64("B"), 1)
        let dictionary = Data("00-database-url\n  x\nApple \\Ap\"ple\\, n. A fruit.\n   [1913 Webster]\nBear n. An animal.\n".utf8)
        // dictd offsets/lengths in base64 digits: the header is 20 bytes (U), the Apple entry 46 (u), Bear 19 (T) at
        // 66 (BC); a second headword for the same entry (Apples) is read once.
        let realIndex = "00-database-url\tA\tU\nApple\tU\tu\nBear\tBC\tT\nApples\tU\tu\n"
        XCTAssertEqual(try CorpusText.gcide(dictionary: dictionary, index: realIndex),
                       "Apple n. A fruit.\n\nBear n. An animal.\n\n")
        XCTAssertEqual(CorpusText.nahan("_分节阅读_1\r\n\r\n 自序 \r\n　　我在年青时候。\r\n_分节阅读_2\r\n"), "自序\n\n我在年青时候。\n")
    }
}
