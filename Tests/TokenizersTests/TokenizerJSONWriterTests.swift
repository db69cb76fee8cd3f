import Foundation
import XCTest
import TestSupport
@testable import Tokenizers

/// `BPETokenizer.tokenizerJSON()` / `tokenizerConfigJSON(...)`: what is written loads back (here and, with
/// MEMORAG_PEER_PYTHON set, in HF `tokenizers`) to the ids HF gives, and a tokenizer built from GGUF components is
/// written in the layout transformers writes for the same GGUF (checkpoints/memorag-smollm2-135m).
final class TokenizerJSONWriterTests: XCTestCase {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Writes both files into a fresh directory and loads them back through the dispatching loader.
    func roundTrip(_ tokenizer: BPETokenizer, chatTemplate: String? = nil) throws -> (URL, BPETokenizer) {
        let directory = try temporaryDirectory()
        for (name, data) in try tokenizer.hfTokenizerFiles(chatTemplate: chatTemplate, modelMaxLength: 2048) {
            try data.write(to: directory.appendingPathComponent(name))
        }
        let loaded = try loadTokenizer(directory: directory)
        return (directory, try XCTUnwrap(loaded as? BPETokenizer, "loaded a \(type(of: loaded))"))
    }

    /// The reloaded tokenizer gives HF's ids (with and without special tokens) and decodes for every fixture string.
    func assertMatchesHF(_ tokenizer: BPETokenizer, _ name: String, file: StaticString = #filePath,
                         line: UInt = #line) {
        guard let expected = BPETests.expected[name] else {
            return XCTFail("no expectations for \(name)", file: file, line: line)
        }
        var failures = 0
        for (i, s) in BPETests.strings.enumerated() {
            let ids = tokenizer.encode(s, addSpecialTokens: true)
            let plain = tokenizer.encode(s, addSpecialTokens: false)
            let decoded = tokenizer.decode(expected.ids[i], skipSpecialTokens: false)
            if ids != expected.ids[i] || plain != expected.ids_no_special[i] || decoded != expected.decode[i] {
                failures += 1
                if failures <= 3 {
                    XCTFail("\(name) after writing: \(s.debugDescription): \(ids) vs HF \(expected.ids[i])",
                            file: file, line: line)
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(name): \(failures) of \(BPETests.strings.count) strings differ",
                       file: file, line: line)
    }

    func testFixtureTokenizersRoundTrip() throws {
        // Byte-level with GPT-2 / Llama-3 / Qwen2 splits, NFC, Digits, ignore_merges; SentencePiece with a Prepend +
        // Replace normalizer, Metaspace (first / always, split or not), byte fallback, decoder sequences.
        for name in BPETests.fixtureNames {
            let original = try BPETests.fixtureTokenizer(name)
            let (_, reloaded) = try roundTrip(original)
            assertMatchesHF(reloaded, name)
            XCTAssertEqual(reloaded.vocabularySize, original.vocabularySize, name)
            XCTAssertEqual(reloaded.addedTokens, original.addedTokens.sorted { $0.id < $1.id }, name)
            XCTAssertEqual(reloaded.prefixIDs, original.prefixIDs, name)
            XCTAssertEqual(reloaded.suffixIDs, original.suffixIDs, name)
            // Writing what was read back gives the same bytes: nothing is lost or reordered on the way.
            XCTAssertEqual(try reloaded.tokenizerJSON(), try original.tokenizerJSON(), name)
        }
    }

    /// A SentencePiece ("llama") GGUF vocabulary: no merges in the file (derived from the scores), CONTROL tokens,
    /// BOS added by the post-processor.
    static func sentencePieceFromGGUF() throws -> BPETokenizer {
        let v = BPETests.load("sp_gguf_vocab.json", as: BPETests.SPGGUFVocab.self)
        let special = SpecialTokens(bos: v.bos_token_id, eos: v.eos_token_id, unk: v.unknown_token_id)
        return try BPETokenizer(sentencePieceTokens: v.tokens, scores: v.scores, tokenTypes: v.token_type,
                                specialTokens: special, addBOS: true)
    }

    func testSentencePieceGGUFVocabularyRoundTrips() throws {
        let original = try Self.sentencePieceFromGGUF()
        let (directory, reloaded) = try roundTrip(original)
        assertMatchesHF(reloaded, "sp-gguf")
        XCTAssertEqual(reloaded.specialTokens, original.specialTokens)
        XCTAssertEqual(reloaded.prefixIDs, [1])
        let text = BPETests.strings.joined(separator: "\n")
        XCTAssertEqual(reloaded.encode(text, addSpecialTokens: true), original.encode(text, addSpecialTokens: true))

        let config = try TokenizerJSON.readObject(at: directory.appendingPathComponent("tokenizer_config.json"))
        XCTAssertEqual(config["bos_token"] as? String, "<s>")
        XCTAssertEqual(config["eos_token"] as? String, "</s>")
        XCTAssertEqual(config["unk_token"] as? String, "<unk>")
        XCTAssertEqual(config["add_bos_token"] as? Bool, true)
        XCTAssertEqual(config["add_eos_token"] as? Bool, false)
    }

    func testSentencePieceGGUFVocabularyInHFTokenizers() throws {
        let python = try Self.peerPython()
        let (directory, reloaded) = try roundTrip(try Self.sentencePieceFromGGUF())
        try checkWithHFTokenizers(python: python, directory: directory, tokenizer: reloaded)
    }

    func testSmolLM2FromGGUFComponentsInHFTokenizers() throws {
        let python = try Self.peerPython()
        let (directory, reloaded) = try roundTrip(BPETests.smolFromGGUF)
        try checkWithHFTokenizers(python: python, directory: directory, tokenizer: reloaded)
    }

    /// SmolLM2 from its GGUF's vocabulary, merges and token types: the tokenizer.json transformers wrote from the
    /// GGUF (checkpoints/memorag-smollm2-135m), to the byte.
    func testSmolLM2FromGGUFComponentsWritesTransformersLayout() throws {
        let written = try BPETests.smolFromGGUF.tokenizerJSON()
        let reference = try Data(contentsOf: BPETests.checkpoint.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(written.count, reference.count)
        XCTAssertTrue(written == reference, "tokenizer.json differs from transformers' at byte "
                      + "\(zip(written, reference).prefix { $0 == $1 }.count)")

        let v = BPETests.load("smollm2_gguf_vocab.json", as: BPETests.GGUFVocab.self)
        let (directory, reloaded) = try roundTrip(BPETests.smolFromGGUF, chatTemplate: v.chat_template)
        XCTAssertEqual(reloaded.specialTokens, BPETests.smolFromJSON.specialTokens)
        let text = BPETests.strings.joined(separator: "\n")
        XCTAssertEqual(reloaded.encode(text, addSpecialTokens: true),
                       BPETests.smolFromJSON.encode(text, addSpecialTokens: true))

        // The config has what the checkpoint's has (roles, template), plus the add_*_token flags and the length.
        let config = try TokenizerJSON.readObject(at: directory.appendingPathComponent("tokenizer_config.json"))
        let expected = try TokenizerJSON.readObject(
            at: BPETests.checkpoint.appendingPathComponent("tokenizer_config.json"))
        for key in ["bos_token", "eos_token", "pad_token", "unk_token", "chat_template"] {
            XCTAssertEqual(config[key] as? String, expected[key] as? String, key)
        }
        XCTAssertEqual(config["add_bos_token"] as? Bool, false)
        XCTAssertEqual(config["model_max_length"] as? Int, 2048)
        XCTAssertEqual(config["tokenizer_class"] as? String, "PreTrainedTokenizerFast")
        XCTAssertEqual(try ChatTemplate.load(directory: directory),
                       try ChatTemplate.load(directory: BPETests.checkpoint))
    }

    func testConfigLeavesOutFlagsThePostProcessorCannotBeRebuiltFrom() throws {
        // A post-processor adding something other than BOS / EOS (here BOS twice) is kept in tokenizer.json only.
        let v = BPETests.load("sp_gguf_vocab.json", as: BPETests.SPGGUFVocab.self)
        let vocab = Dictionary(v.tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var c = BPEConfiguration(vocab: vocab, merges: [])
        c.prefixIDs = [1, 1]
        c.addedTokens = [AddedToken(id: 1, content: "<s>", special: true)]
        c.specialTokens = SpecialTokens(bos: 1, eos: 2)
        let tokenizer = try BPETokenizer(configuration: c, path: "test")
        let config = try JSONSerialization.jsonObject(with: tokenizer.tokenizerConfigJSON()) as? [String: Any]
        XCTAssertNil(config?["add_bos_token"])
        XCTAssertNil(config?["add_eos_token"])
        let (_, reloaded) = try roundTrip(tokenizer)
        XCTAssertEqual(reloaded.encode("a", addSpecialTokens: true).prefix(2), [1, 1])
    }

    func testJSONEscaping() {
        let value = OrderedJSON.object([("a\"b\\", .array([.string("\n\t\r\u{8}\u{C}\u{1}\u{7F}é▁"), .int(-3), .null,
                                                           .bool(true)])), ("e", .object([])), ("f", .array([]))])
        XCTAssertEqual(String(decoding: value.serialized(), as: UTF8.self),
                       #"{"a\"b\\":["\n\t\r\b\f\u0001"# + "\u{7F}é▁" + #"",-3,null,true],"e":{},"f":[]}"#)
        XCTAssertEqual(String(decoding: value.serialized(pretty: true), as: UTF8.self),
                       "{\n  \"a\\\"b\\\\\": [\n    \"\\n\\t\\r\\b\\f\\u0001\u{7F}é▁\",\n"
                       + "    -3,\n    null,\n    true\n  ],\n  \"e\": {},\n  \"f\": []\n}\n")
    }

    // MARK: - HF tokenizers

    /// MEMORAG_PEER_PYTHON, or a skip saying how to set it.
    static func peerPython() throws -> String {
        guard let python = ProcessInfo.processInfo.environment["MEMORAG_PEER_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set MEMORAG_PEER_PYTHON to a python with `tokenizers` (e.g. the venv scripts/check-venv.sh "
                          + "makes) to check the written tokenizer.json with HF")
        }
        return python
    }

    /// Runs Fixtures/check_tokenizer_ids.py: HF (and transformers, when that python has it) must encode the fixture
    /// strings with the files in `directory` as `tokenizer` does here.
    func checkWithHFTokenizers(python: String, directory: URL, tokenizer: BPETokenizer) throws {
        let cases = BPETests.strings.map { text -> [String: Any] in
            let plain = tokenizer.encode(text, addSpecialTokens: false)
            return ["text": text, "ids": tokenizer.encode(text, addSpecialTokens: true), "ids_plain": plain,
                    "decoded": tokenizer.decode(plain, skipSpecialTokens: false)]
        }
        let casesURL = directory.appendingPathComponent("cases.json")
        try JSONSerialization.data(withJSONObject: ["cases": cases]).write(to: casesURL)
        let arguments: [String] = [BPETests.fixtures.appendingPathComponent("check_tokenizer_ids.py").path, directory.path,
                             casesURL.path]
        let (status, output) = try runPythonCheck(python, arguments)
        XCTAssertEqual(status, 0, "HF disagrees with the Swift tokenizer:\n\(output)")
    }
}
