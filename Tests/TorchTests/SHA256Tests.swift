import Foundation
import TestSupport
import Torch
import XCTest

final class SHA256Tests: XCTestCase {
    func testSHA256KnownAnswers() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Fed in uneven pieces across block boundaries: the same as in one go.
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = SHA256()
        var at = 0
        for size in [1, 63, 64, 65, 127, 300, 380] { hasher.update(bytes[at..<at + size]); at += size }
        XCTAssertEqual(hasher.finalizeHex(), SHA256.hex(bytes))
        XCTAssertEqual(SHA256.hex(bytes), "945acdf575d6a2430bf4d6163e1d03b4b0b896fcef107c8b24bf7ff07a621fa3")  // Python hashlib
    }

    func testMillionAs() {
        var million = SHA256()
        let piece = Data(repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { million.update(piece) }
        XCTAssertEqual(million.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        XCTAssertEqual(SHA256.hex("The quick brown fox jumps over the lazy dog"),
                       "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
    }

    func testFileDigestEqualsDataDigest() throws {
        let url = try temporaryDirectory().appendingPathComponent("blob")
        let bytes = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try bytes.write(to: url)
        XCTAssertEqual(try SHA256.hex(fileAt: url), SHA256.hex(bytes))
        XCTAssertThrowsError(try SHA256.hex(fileAt: url.appendingPathExtension("missing")))
    }
}
