import Foundation
import TestSupport
import XCTest

@testable import Data

/// FIPS 180-4 test vectors (the independent reference), split across updates to exercise the buffering.
final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var million = SHA256()
        let piece = Data(repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { million.update(piece) }
        XCTAssertEqual(million.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testUnalignedUpdatesAndFiles() throws {
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 37)
        var h = SHA256()
        var rest = Substring(text)
        var step = 1
        while !rest.isEmpty {
            h.update(Data(rest.prefix(step).utf8))
            rest = rest.dropFirst(step)
            step = step % 70 + 3
        }
        XCTAssertEqual(h.finalizeHex(), SHA256.hex(text))
        let dir = try temporaryDirectory("sha")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("t.txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try SHA256.hex(fileAt: file), SHA256.hex(text))
        XCTAssertEqual(SHA256.hex("The quick brown fox jumps over the lazy dog"),
                       "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
    }
}
