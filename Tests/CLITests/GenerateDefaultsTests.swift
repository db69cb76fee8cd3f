import Foundation
import TestSupport
import XCTest

/// `memorag generate` with no precision or compression options, on tiny models whose reference continuations
/// transformers (decoders) and the Activation Beacon reference (beacon models) made: the defaults must reproduce
/// them token for token, and say on stderr what they run in.
final class GenerateDefaultsTests: XCTestCase {
    struct Reference: Decodable {
        var prompts: [[Int]]
        var greedy: [[Int]]
    }

    struct BeaconReference: Decodable {
        struct Case: Decodable {
            var input_ids: [Int]
            var ratios: [Int]
            var sink: Int
            var greedy: [Int]
        }
        var inference: [Case]
    }

    struct Output: Decodable { var output_ids: [Int] }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelsTests/Fixtures")

    func testAFloat32ModelMatchesTransformersByDefault() throws {
        for arch in ["llama", "qwen2"] {
            let source = Self.fixtures.appendingPathComponent("decoders/\(arch)")
            let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: source.appendingPathComponent("expected.json")))
            let model = try Self.modelWithIDTokenizer(source)
            for (prompt, greedy) in zip(reference.prompts, reference.greedy) {
                let (ids, stderr) = try generate(model, prompt: prompt, tokens: greedy.count)
                XCTAssertEqual(ids, try Self.untilStop(greedy, model: model), "\(arch) \(prompt)")
                XCTAssertTrue(stderr.contains("precision float32"), "\(arch): \(stderr)")
            }
        }
    }

    func testABeaconModelRunsWithItsOwnCompressionByDefault() throws {
        for arch in ["llama", "qwen2"] {
            let source = Self.fixtures.appendingPathComponent("beacon/\(arch)")
            let reference = try JSONDecoder().decode(BeaconReference.self, from: Data(contentsOf: source.appendingPathComponent("expected.json")))
            let model = try Self.modelWithIDTokenizer(source)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
            let own = config["beacon_ratio"] as! [Int]
            let cases = reference.inference.filter { $0.ratios == own && $0.sink == 0 }
            XCTAssertGreaterThanOrEqual(cases.count, 4)
            for c in cases {
                let (ids, stderr) = try generate(model, prompt: c.input_ids, tokens: c.greedy.count)
                XCTAssertEqual(ids, try Self.untilStop(c.greedy, model: model), "\(arch) \(c.input_ids.count) tokens")
                XCTAssertTrue(stderr.contains("beacon memory, ratio \(own[0])"), "\(arch): \(stderr)")
            }
        }
    }

    func testAPromptOfWhitespaceIsAPrompt() throws {
        guard let memorag = builtExecutable("memorag") else { throw XCTSkip("the memorag binary is not built") }
        let model = try Self.modelWithByteTokenizer(Self.fixtures.appendingPathComponent("decoders/llama"))
        let file = model.appendingPathComponent("newlines.txt")
        try Data("\n\n\n".utf8).write(to: file)
        for (input, ids) in [(["--prompt", " "], 1), (["--prompt-file", file.path], 3)] {
            let run = try runProcess(memorag, ["generate", "--model", model.path, "--max-new-tokens", "2", "--json"] + input)
            XCTAssertEqual(run.status, 0, "\(input): \(run.stderr)")
            let output = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            XCTAssertEqual((output?["input_ids"] as? [Int])?.count, ids, "\(input)")
        }
        let empty = try runProcess(memorag, ["generate", "--model", model.path, "--prompt", ""])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.stderr.contains("--prompt is empty"), empty.stderr)
    }

    /// Runs `memorag generate --json` greedily on `prompt` (ids spelled as the ID tokenizer's words).
    private func generate(_ model: URL, prompt: [Int], tokens: Int) throws -> ([Int], String) {
        guard let memorag = builtExecutable("memorag") else { throw XCTSkip("the memorag binary is not built") }
        let text = prompt.map { "t\($0)" }.joined(separator: " ")
        let run = try runProcess(memorag, ["generate", "--model", model.path, "--prompt", text,
                                           "--max-new-tokens", "\(tokens)", "--json"],
                                 environment: ["MEMORAG_DTYPE": ""])
        XCTAssertEqual(run.status, 0, run.stderr)
        let output = try JSONDecoder().decode(Output.self, from: Data(run.stdout.utf8))
        return (output.output_ids, run.stderr)
    }

    /// The reference continuation up to the model's EOS (generate stops there; the references ran on).
    private static func untilStop(_ ids: [Int], model: URL) throws -> [Int] {
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: model.appendingPathComponent("config.json"))) as! [String: Any]
        let eos = config["eos_token_id"] as? Int
        return Array(ids.prefix { $0 != eos })
    }

    /// A copy of a fixture model with a byte-level BPE tokenizer of the 256 bytes (GPT-2's byte alphabet, no
    /// merges): every byte of a prompt, whitespace included, is one token.
    static func modelWithByteTokenizer(_ source: URL) throws -> URL {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        var extra = 0
        let alphabet = (0..<256).map { byte -> String in
            if printable.contains(byte) { return String(UnicodeScalar(UInt8(byte))) }
            defer { extra += 1 }
            return String(UnicodeScalar(256 + extra)!)
        }
        let tokenizer: [String: Any] = [
            "model": ["type": "BPE", "vocab": Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($1, $0) }),
                      "merges": [String]()],
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "decoder": ["type": "ByteLevel"],
        ]
        return try copy(source, tokenizer: tokenizer)
    }

    /// A copy of a fixture model with a tokenizer whose words are its ids ("t0" … "tN−1", split on whitespace), so
    /// a prompt of reference ids goes through the CLI unchanged.
    static func modelWithIDTokenizer(_ source: URL) throws -> URL {
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        let vocabSize = config["vocab_size"] as! Int
        let vocab = Dictionary(uniqueKeysWithValues: (0..<vocabSize).map { ("t\($0)", $0) })
        return try copy(source, tokenizer: [
            "model": ["type": "WordPiece", "vocab": vocab, "unk_token": "t0"],
            "pre_tokenizer": ["type": "BertPreTokenizer"],
        ])
    }

    /// config.json and model.safetensors of `source`, with `tokenizer` as tokenizer.json, in a fresh directory.
    private static func copy(_ source: URL, tokenizer: [String: Any]) throws -> URL {
        let dir = try temporaryDirectory("generate-defaults")
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        try JSONSerialization.data(withJSONObject: tokenizer).write(to: dir.appendingPathComponent("tokenizer.json"))
        return dir
    }
}
