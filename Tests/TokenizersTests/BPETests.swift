import Foundation
import XCTest
@testable import Tokenizers

/// Byte-level and SentencePiece BPE against HF `tokenizers` / transformers: Fixtures/make_bpe_fixtures.py wrote the
/// tokenizers, the strings and the expected ids / decodes / chat renderings.
final class BPETests: XCTestCase {
    struct Expected: Decodable {
        let ids: [[Int]]
        let ids_no_special: [[Int]]
        let decode: [String]
        let decode_skip_special: [String]
        let random_ids: [[Int]]
        let random_decode: [String]
        let random_decode_skip_special: [String]
    }

    struct GGUFVocab: Decodable {
        let tokens: [String]
        let merges: [String]
        let token_type: [Int]
        let pre: String
        let bos_token_id: Int?
        let eos_token_id: Int?
        let unknown_token_id: Int?
        let padding_token_id: Int?
        let add_bos_token: Bool?
        let add_eos_token: Bool?
        let chat_template: String
    }

    struct ChatCase: Decodable {
        let template_name: String
        let template: String
        let conversation: String
        let messages: [ChatMessage]
        let add_generation_prompt: Bool
        let expected: String
        let bos_token: String
        let eos_token: String
    }

    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let checkpoint = repoRoot.appendingPathComponent("checkpoints/memorag-smollm2-135m")

    static func load<T: Decodable>(_ name: String, as: T.Type) -> T {
        let url = fixtures.appendingPathComponent(name)
        return try! JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    static let strings: [String] = load("strings.json", as: [String].self)
    static let expected: [String: Expected] = load("expected_bpe.json", as: [String: Expected].self)
    static let fixtureNames = ["bytelevel", "llama3", "qwen2", "digits", "sp-llama2", "sp-mistral", "sp-metaspace"]

    static func fixtureTokenizer(_ name: String) throws -> BPETokenizer {
        try BPETokenizer(directory: fixtures.appendingPathComponent("bpe/\(name)"))
    }

    static let smolFromJSON: BPETokenizer = try! BPETokenizer(directory: checkpoint)

    static let smolFromGGUF: BPETokenizer = {
        let v = load("smollm2_gguf_vocab.json", as: GGUFVocab.self)
        return try! BPETokenizer(
            tokens: v.tokens, merges: v.merges, tokenTypes: v.token_type,
            preTokenizer: GGUFPreTokenizer(ggufName: v.pre)!,
            specialTokens: SpecialTokens(bos: v.bos_token_id, eos: v.eos_token_id, pad: v.padding_token_id,
                                         unk: v.unknown_token_id),
            addBOS: v.add_bos_token ?? false, addEOS: v.add_eos_token ?? false)
    }()

    /// Compares every string's ids and decodes with HF's; returns the number of strings checked.
    @discardableResult
    func checkParity(_ tok: BPETokenizer, _ name: String, file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard let e = Self.expected[name] else { XCTFail("no expectations for \(name)"); return 0 }
        var failures = 0
        for (i, s) in Self.strings.enumerated() {
            let ids = tok.encode(s, addSpecialTokens: true)
            let plain = tok.encode(s, addSpecialTokens: false)
            if ids != e.ids[i] || plain != e.ids_no_special[i] {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(name): ids of \(s.debugDescription):\n ours \(ids)\n HF   \(e.ids[i])", file: file, line: line)
                }
            }
            let d = tok.decode(e.ids[i], skipSpecialTokens: false)
            let ds = tok.decode(e.ids[i], skipSpecialTokens: true)
            if d != e.decode[i] || ds != e.decode_skip_special[i] {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(name): decode of \(s.debugDescription): \(d.debugDescription) / \(ds.debugDescription)"
                            + " vs HF \(e.decode[i].debugDescription) / \(e.decode_skip_special[i].debugDescription)",
                            file: file, line: line)
                }
            }
        }
        for (i, ids) in e.random_ids.enumerated() {
            let d = tok.decode(ids, skipSpecialTokens: false)
            let ds = tok.decode(ids, skipSpecialTokens: true)
            if d != e.random_decode[i] || ds != e.random_decode_skip_special[i] {
                failures += 1
                if failures <= 8 {
                    XCTFail("\(name): decode of \(ids): \(d.debugDescription) vs HF \(e.random_decode[i].debugDescription)",
                            file: file, line: line)
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(name): \(failures) mismatches", file: file, line: line)
        return Self.strings.count
    }

    // MARK: - Pre-tokenizer scanners

    func testSplitScannersMatchHFRegexes() {
        let splits = Self.load("pretokenize.json", as: [String: [[String]]].self)
        for pattern in SplitPattern.allCases {
            guard let expected = splits[pattern.rawValue] else { XCTFail("no \(pattern)"); continue }
            var failures = 0
            for (i, s) in Self.strings.enumerated() {
                var text = s
                var pieces = [String]()
                text.withUTF8 { buf in
                    guard let base = buf.baseAddress, buf.count > 0 else { return }
                    var out = [Range<Int>]()
                    pattern.split(base, 0..<buf.count, into: &out)
                    pieces = out.map { String(decoding: UnsafeBufferPointer(rebasing: buf[$0]), as: UTF8.self) }
                }
                if pieces != expected[i] {
                    failures += 1
                    if failures <= 5 {
                        XCTFail("\(pattern) split of \(s.debugDescription): \(pieces) vs HF \(expected[i])")
                    }
                }
            }
            XCTAssertEqual(failures, 0, "\(pattern)")
        }
        XCTAssertEqual(SplitPattern(regex: SplitPattern.llama3.regex), .llama3)
        XCTAssertEqual(SplitPattern(regex: #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#),
                       .gpt2)
        XCTAssertNil(SplitPattern(regex: #"\w+"#))
    }

    // MARK: - Parity

    func testTrainedByteLevelParity() throws {
        for name in ["bytelevel", "llama3", "qwen2", "digits"] {
            checkParity(try Self.fixtureTokenizer(name), name)
        }
        XCTAssertGreaterThanOrEqual(Self.strings.count, 200)
    }

    func testSentencePieceParity() throws {
        for name in ["sp-llama2", "sp-mistral", "sp-metaspace"] {
            let tok = try Self.fixtureTokenizer(name)
            checkParity(tok, name)
            XCTAssertEqual(tok.prefixIDs, [1])
            XCTAssertEqual(tok.encode("", addSpecialTokens: true), [1])
        }
    }

    func testSmolLM2TokenizerJSONParity() throws {
        let tok = Self.smolFromJSON
        checkParity(tok, "smollm2")
        XCTAssertEqual(tok.vocabularySize, 49152)
        XCTAssertEqual(tok.specialTokens, SpecialTokens(bos: 1, eos: 2, pad: 2, unk: 0, extraEOS: [0]))
        XCTAssertEqual(tok.prefixIDs, [])
        XCTAssertEqual(tok.id(for: "<|im_end|>"), 2)
        XCTAssertEqual(tok.token(for: 2), "<|im_end|>")
        XCTAssertNil(tok.token(for: 49152))
        // Through the dispatching loader too.
        let auto = try loadTokenizer(directory: Self.checkpoint)
        XCTAssertTrue(auto is BPETokenizer)
        XCTAssertEqual(auto.encode("Hello world <|im_start|> 123456", addSpecialTokens: true),
                       [19556, 905, 216, 1, 216, 33, 34, 35, 36, 37, 38])
    }

    func testSmolLM2FromGGUFComponentsMatchesTransformers() throws {
        let gguf = Self.smolFromGGUF
        checkParity(gguf, "smollm2")
        XCTAssertEqual(gguf.specialTokens, Self.smolFromJSON.specialTokens)
        XCTAssertEqual(gguf.vocabularySize, Self.smolFromJSON.vocabularySize)
        XCTAssertEqual(gguf.addedTokens.map(\.content), Self.smolFromJSON.addedTokens.map(\.content))
        // Same ids as the tokenizer.json on a longer text.
        let text = Self.strings.joined(separator: "\n")
        XCTAssertEqual(gguf.encode(text, addSpecialTokens: true), Self.smolFromJSON.encode(text, addSpecialTokens: true))
        // The metadata-dictionary initializer.
        let v = Self.load("smollm2_gguf_vocab.json", as: GGUFVocab.self)
        let meta: [String: Any] = [
            "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": v.pre, "tokenizer.ggml.tokens": v.tokens,
            "tokenizer.ggml.merges": v.merges, "tokenizer.ggml.token_type": v.token_type.map { Int32($0) },
            "tokenizer.ggml.bos_token_id": UInt32(1), "tokenizer.ggml.eos_token_id": UInt32(2),
            "tokenizer.ggml.unknown_token_id": UInt32(0), "tokenizer.ggml.padding_token_id": UInt32(2),
            "tokenizer.ggml.add_bos_token": false,
        ]
        let fromMeta = try BPETokenizer(ggufMetadata: meta, path: "SmolLM2.gguf")
        XCTAssertEqual(fromMeta.encode(text, addSpecialTokens: true), gguf.encode(text, addSpecialTokens: true))
        XCTAssertEqual(fromMeta.specialTokens, gguf.specialTokens)
        // BOS when the GGUF asks for it.
        let withBOS = try BPETokenizer(tokens: v.tokens, merges: v.merges, tokenTypes: v.token_type,
                                       preTokenizer: .smollm, specialTokens: gguf.specialTokens, addBOS: true)
        XCTAssertEqual(withBOS.encode("Hi", addSpecialTokens: true), [1] + gguf.encode("Hi", addSpecialTokens: false))
        XCTAssertThrowsError(try BPETokenizer(ggufMetadata: meta.merging(["tokenizer.ggml.pre": "tekken"]) { $1 },
                                              path: "x.gguf"))
    }

    struct SPGGUFVocab: Decodable {
        let tokens: [String]
        let scores: [Float]
        let token_type: [Int]
        let bos_token_id: Int
        let eos_token_id: Int
        let unknown_token_id: Int
    }

    func testSentencePieceGGUFMatchesTransformers() throws {
        // A "llama" GGUF has no merges: they are derived from the scores, as transformers does.
        let v = Self.load("sp_gguf_vocab.json", as: SPGGUFVocab.self)
        let special = SpecialTokens(bos: v.bos_token_id, eos: v.eos_token_id, unk: v.unknown_token_id)
        let tok = try BPETokenizer(sentencePieceTokens: v.tokens, scores: v.scores, tokenTypes: v.token_type,
                                   specialTokens: special, addBOS: true)
        checkParity(tok, "sp-gguf")
        let meta: [String: Any] = [
            "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": v.tokens, "tokenizer.ggml.scores": v.scores,
            "tokenizer.ggml.token_type": v.token_type, "tokenizer.ggml.bos_token_id": v.bos_token_id,
            "tokenizer.ggml.eos_token_id": v.eos_token_id, "tokenizer.ggml.unknown_token_id": v.unknown_token_id,
        ]
        let fromMeta = try BPETokenizer(ggufMetadata: meta, path: "sp.gguf")
        for (i, s) in Self.strings.enumerated() {
            XCTAssertEqual(fromMeta.encode(s, addSpecialTokens: true), Self.expected["sp-gguf"]!.ids[i])
        }
        XCTAssertThrowsError(try BPETokenizer(sentencePieceTokens: v.tokens, scores: nil, specialTokens: special))
    }

    // MARK: - Decoding

    func testRoundTripIsLossless() throws {
        let lossless: [(String, BPETokenizer)] = [
            ("bytelevel", try Self.fixtureTokenizer("bytelevel")), ("llama3", try Self.fixtureTokenizer("llama3")),
            ("smollm2", Self.smolFromJSON),
        ]
        for (name, tok) in lossless {
            var checked = 0
            for (i, s) in Self.strings.enumerated() {
                // Added tokens with lstrip / rstrip swallow the whitespace next to them (in HF too).
                let e = Self.expected[name]!
                guard e.decode[i] == s || e.decode_skip_special[i] == s else { continue }
                XCTAssertEqual(tok.decode(tok.encode(s, addSpecialTokens: false), skipSpecialTokens: false), s,
                               "\(name) round trip")
                checked += 1
            }
            XCTAssertGreaterThan(checked, Self.strings.count - 30, name)
        }
        // SentencePiece: lossless except what Strip removes (one leading space) and `<unk>`-free text only.
        let sp = try Self.fixtureTokenizer("sp-llama2")
        for s in ["Hello world", "caf\u{e9} \u{4f60}\u{597d} \u{1F600}", "  two spaces", "tabs\tand\nnewlines\n"] {
            XCTAssertEqual(sp.decode(sp.encode(s, addSpecialTokens: true), skipSpecialTokens: true), s)
        }
    }

    func streamed(_ tok: any Tokenizer, _ ids: [Int], skip: Bool) -> (String, [String]) {
        var stream = StreamingDecoder(tokenizer: tok, skipSpecialTokens: skip)
        var parts = [String]()
        for id in ids { parts.append(stream.push(id)) }
        parts.append(stream.finish())
        return (parts.joined(), parts)
    }

    func testStreamingDecodeEqualsBatchDecode() throws {
        var tokenizers: [(String, BPETokenizer)] = try Self.fixtureNames.map { ($0, try Self.fixtureTokenizer($0)) }
        tokenizers.append(("smollm2", Self.smolFromJSON))
        var checked = 0
        for (name, tok) in tokenizers {
            let e = Self.expected[name]!
            for ids in e.ids {
                for skip in [false, true] {
                    let (text, parts) = streamed(tok, ids, skip: skip)
                    XCTAssertEqual(text, tok.decode(ids, skipSpecialTokens: skip), "\(name) \(ids)")
                    for p in parts where p.unicodeScalars.contains("\u{FFFD}") {
                        XCTFail("\(name): streamed a replacement character for valid text \(ids)")
                    }
                    checked += 1
                }
            }
            // Invalid UTF-8 (random ids): byte-level streams equal batch always.
            if name == "bytelevel" || name == "smollm2" || name == "llama3" {
                for ids in e.random_ids {
                    XCTAssertEqual(streamed(tok, ids, skip: false).0, tok.decode(ids, skipSpecialTokens: false))
                }
            }
        }
        XCTAssertGreaterThan(checked, 2000)

        // A multi-byte character split over byte-level tokens comes out whole, once complete.
        let smol = Self.smolFromJSON
        let ids = smol.encode("\u{1F600}", addSpecialTokens: false)
        XCTAssertGreaterThan(ids.count, 1)
        var stream = StreamingDecoder(tokenizer: smol)
        let outs = ids.map { stream.push($0) }
        XCTAssertEqual(outs.dropLast().joined(), "")
        XCTAssertEqual(outs.last, "\u{1F600}")
        XCTAssertEqual(stream.finish(), "")

        // Byte fallback: <0xE4><0xBD><0xA0> is one character.
        let sp = try Self.fixtureTokenizer("sp-llama2")
        let fb = ["<0xE4>", "<0xBD>", "<0xA0>"].map { sp.id(for: $0)! }
        var s2 = StreamingDecoder(tokenizer: sp)
        XCTAssertEqual(fb.map { s2.push($0) }, ["", "", "\u{4F60}"])
    }

    // MARK: - Chat templates

    func testChatTemplatesRenderLikeTransformers() throws {
        let cases = Self.load("chat_templates.json", as: [ChatCase].self)
        XCTAssertGreaterThanOrEqual(cases.count, 28)
        for c in cases {
            let t = try ChatTemplate.detect(from: c.template, source: c.template_name, bosToken: c.bos_token,
                                            eosToken: c.eos_token)
            XCTAssertEqual(t.render(c.messages, addGenerationPrompt: c.add_generation_prompt), c.expected,
                           "\(c.template_name) \(c.conversation) gen=\(c.add_generation_prompt)")
        }
        // The shipped checkpoint and the GGUF's metadata give SmolLM2's template.
        let smol = ChatTemplate.chatML(
            defaultSystemPrompt: "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        XCTAssertEqual(try ChatTemplate.load(directory: Self.checkpoint), smol)
        let v = Self.load("smollm2_gguf_vocab.json", as: GGUFVocab.self)
        XCTAssertEqual(try ChatTemplate.detect(from: v.chat_template, source: "SmolLM2.gguf"), smol)
        // Unrecognised templates name their source.
        XCTAssertThrowsError(try ChatTemplate.detect(from: "{{ messages }}", source: "/m/tokenizer_config.json")) {
            XCTAssertTrue("\($0.localizedDescription)".contains("/m/tokenizer_config.json"), "\($0)")
        }
        XCTAssertThrowsError(try ChatTemplate.detect(from: nil, source: "cfg.json"))
    }

    // MARK: - Errors

    func testCorruptTokenizerJSONErrorsNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-corrupt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("tokenizer.json")
        let vocab = #"{"a": 0, "b": 1, "ab": 2}"#
        let cases: [(String, String)] = [
            ("{ not json", "not valid JSON"),
            ("[1, 2]", "not a JSON object"),
            (#"{"version": "1.0"}"#, "no \"model\""),
            (#"{"model": {"type": "BPE", "merges": []}}"#, "no \"vocab\""),
            (#"{"model": {"type": "BPE", "vocab": \#(vocab)}}"#, "no \"merges\""),
            (#"{"model": {"type": "BPE", "vocab": \#(vocab), "merges": ["a c"]}}"#, "\"c\", not in the vocabulary"),
            (#"{"model": {"type": "BPE", "vocab": \#(vocab), "merges": ["b a"]}}"#, "makes \"ba\""),
            (#"{"model": {"type": "BPE", "vocab": \#(vocab), "merges": ["a b c"]}}"#, "not two tokens"),
            (#"{"model": {"type": "Unigram", "vocab": []}}"#, "model type \"Unigram\""),
            (#"{"model": {"type": "BPE", "vocab": \#(vocab), "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}"#,
             "pre-tokenizer Whitespace"),
            (#"{"model": {"type": "BPE", "vocab": \#(vocab), "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false}}"#,
             "Split pre-tokenizer"),
            (#"{"model": {"type": "BPE", "vocab": \#(vocab), "merges": [], "unk_token": "<unk>"}}"#, "unk_token"),
        ]
        for (content, message) in cases {
            try content.write(to: file, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try BPETokenizer(directory: dir), content) { error in
                let text = (error as? LocalizedError)?.errorDescription ?? "\(error)"
                XCTAssertTrue(text.contains(file.path), "\(text)")
                XCTAssertTrue(text.contains(message), "expected \(message.debugDescription) in: \(text)")
            }
            if content.contains("Unigram") {
                XCTAssertThrowsError(try loadTokenizer(directory: dir)) { error in
                    guard case TokenizerError.unsupported(let path, _) = error else { return XCTFail("\(error)") }
                    XCTAssertEqual(path, file.path)
                }
            }
        }
        XCTAssertThrowsError(try BPETokenizer(directory: dir.appendingPathComponent("missing"))) { error in
            guard case TokenizerError.unreadable(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("missing/tokenizer.json"))
        }
    }

    // MARK: - Details

    func testLongWordsAndCacheAgree() throws {
        // A piece long enough for the heap merge and beyond the cache length gives the same ids as short pieces.
        let tok = try Self.fixtureTokenizer("sp-llama2")
        let text = String(repeating: "the license and the program ", count: 40)
        let whole = tok.encode(text, addSpecialTokens: false)
        XCTAssertEqual(tok.decode(whole, skipSpecialTokens: false), text)
        let e = Self.expected["sp-llama2"]!
        let i = Self.strings.firstIndex(of: String(repeating: "a", count: 300))!
        XCTAssertEqual(tok.encode(Self.strings[i], addSpecialTokens: true), e.ids[i])
        XCTAssertEqual(tok.encode(Self.strings[i], addSpecialTokens: true), e.ids[i])  // cached
        let batch = Self.smolFromJSON.encodeBatch(Array(Self.strings.prefix(50)), addSpecialTokens: true)
        XCTAssertEqual(batch, Array(Self.expected["smollm2"]!.ids.prefix(50)))
    }

    /// Random strings against HF (`make_bpe_fixtures.py --fuzz OUT.json` writes the file). Skipped without
    /// BPE_FUZZ_FILE.
    func testFuzzParity() throws {
        guard let path = ProcessInfo.processInfo.environment["BPE_FUZZ_FILE"] else {
            throw XCTSkip("set BPE_FUZZ_FILE to the output of make_bpe_fixtures.py --fuzz")
        }
        struct Fuzz: Decodable {
            let strings: [String]
            let splits: [String: [[String]]]
            let ids: [String: [[Int]]]
        }
        let f = try JSONDecoder().decode(Fuzz.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        for pattern in SplitPattern.allCases {
            var failures = 0
            for (i, s) in f.strings.enumerated() {
                var text = s
                let pieces: [String] = text.withUTF8 { buf in
                    guard let base = buf.baseAddress, buf.count > 0 else { return [] }
                    var out = [Range<Int>]()
                    pattern.split(base, 0..<buf.count, into: &out)
                    return out.map { String(decoding: UnsafeBufferPointer(rebasing: buf[$0]), as: UTF8.self) }
                }
                if pieces != f.splits[pattern.rawValue]![i] {
                    failures += 1
                    if failures <= 5 { XCTFail("\(pattern) \(s.debugDescription): \(pieces) vs \(f.splits[pattern.rawValue]![i])") }
                }
            }
            XCTAssertEqual(failures, 0, "\(pattern) splits")
        }
        for (name, expected) in f.ids {
            let tok = name == "smollm2" ? Self.smolFromJSON : try Self.fixtureTokenizer(name)
            var failures = 0
            for (i, s) in f.strings.enumerated() where tok.encode(s, addSpecialTokens: true) != expected[i] {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(name) \(s.debugDescription): \(tok.encode(s, addSpecialTokens: true)) vs \(expected[i])")
                }
            }
            XCTAssertEqual(failures, 0, "\(name): \(failures) of \(f.strings.count)")
        }
    }

    /// Encoding speed (release: `swift test -c release --filter BPETests/testEncodingThroughput` with
    /// BPE_BENCH_FILE=path/to/text). Skipped without the variable.
    func testEncodingThroughput() throws {
        guard let path = ProcessInfo.processInfo.environment["BPE_BENCH_FILE"] else {
            throw XCTSkip("set BPE_BENCH_FILE to a text file")
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let tok = Self.smolFromJSON
        let mb = Double(text.utf8.count) / 1e6
        var best = Double.infinity
        var count = 0
        for round in 0..<5 {
            // A fresh tokenizer (empty word cache) in round 0, then the warm one.
            let t = round == 0 ? try BPETokenizer(directory: Self.checkpoint) : tok
            let start = Date()
            count = t.encode(text, addSpecialTokens: false).count
            let s = Date().timeIntervalSince(start)
            print(String(format: "BPE bench round %d: %.1f ms, %.2f MB/s (%d tokens)%@", round, s * 1000, mb / s, count,
                         round == 0 ? " [cold cache]" : ""))
            if round > 0 { best = min(best, s) }
        }
        let ids = tok.encode(text, addSpecialTokens: false)
        if let idsPath = ProcessInfo.processInfo.environment["BPE_BENCH_IDS"] {  // HF's ids for the same text
            let hf = try JSONDecoder().decode([Int].self, from: Data(contentsOf: URL(fileURLWithPath: idsPath)))
            XCTAssertEqual(ids, hf, "ids differ from HF's")
            print("BPE bench: ids identical to HF's: \(ids == hf)")
        }
        for name in ["sp-llama2", "sp-mistral"] {  // one word per segment: the heap merge on the whole text
            let sp = try Self.fixtureTokenizer(name)
            let t0 = Date()
            let n = sp.encode(text, addSpecialTokens: false).count
            let s = Date().timeIntervalSince(t0)
            print(String(format: "BPE bench %@: %.1f ms, %.2f MB/s (%d tokens)", name, s * 1000, mb / s, n))
        }
        var start = Date()
        let back = tok.decode(ids, skipSpecialTokens: false)
        print(String(format: "BPE bench decode: %.1f ms", Date().timeIntervalSince(start) * 1000))
        XCTAssertEqual(back, text)
        start = Date()
        _ = try BPETokenizer(directory: Self.checkpoint)
        print(String(format: "BPE bench load tokenizer.json: %.1f ms", Date().timeIntervalSince(start) * 1000))
        print(String(format: "BPE bench: %.2f MB, %d tokens, best %.1f ms = %.2f MB/s", mb, count, best * 1000, mb / best))
    }
}
