import Foundation
import Models
import Tokenizers
import XCTest
import TestSupport

/// `GGUFConversion.convert` (`memorag convert`): the SmolLM2-135M-Instruct GGUF (scripts/fetch-models.sh) becomes an
/// HF directory that loads as the GGUF does: same logits, same tokenizer ids (as the tokenizer transformers wrote from
/// the GGUF, checkpoints/memorag-smollm2-135m, and as HF `tokenizers` with MEMORAG_PEER_PYTHON), same chat format.
final class ConvertTests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let checkpoint = repoRoot.appendingPathComponent("checkpoints/memorag-smollm2-135m")
    static let tokenizerFixtures = repoRoot.appendingPathComponent("Tests/TokenizersTests/Fixtures")
    static let tinyQwen2 = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        .appendingPathComponent("gguf/tiny_qwen2.gguf")

    /// The converted SmolLM2 directory, made once for the class (fp32 weights: 540 MB, a few seconds).
    nonisolated(unsafe) static var converted: (directory: URL, report: GGUFConversion.Report)?

    override class func tearDown() {
        if let directory = converted?.directory { try? FileManager.default.removeItem(at: directory) }
        converted = nil
        super.tearDown()
    }

    /// The converted directory, or nil after failing with instructions when the GGUF is missing.
    func convertedSmolLM2(file: StaticString = #filePath, line: UInt = #line) throws -> (URL, GGUFConversion.Report)? {
        if let converted = Self.converted { return converted }
        let gguf = GGUFTests.smolLM2URL
        guard FileManager.default.fileExists(atPath: gguf.path) else {
            XCTFail("\(gguf.path) is missing: run scripts/fetch-models.sh (set MEMORAG_CACHE if it lives elsewhere)",
                    file: file, line: line)
            return nil
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("memorag-convert-\(UUID().uuidString)")
        let report = try GGUFConversion.convert(gguf: gguf, to: directory)
        Self.converted = (directory, report)
        return (directory, report)
    }

    func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-convert-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The fixture strings of the tokenizer tests, plus chat turns and texts around the special tokens.
    static let strings: [String] = {
        let url = tokenizerFixtures.appendingPathComponent("strings.json")
        let fixture = (try? JSONDecoder().decode([String].self, from: Data(contentsOf: url))) ?? []
        return fixture + [
            "<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
            "<|endoftext|><|endoftext|>", "a<repo_name>b<file_sep>c", "<|im_start|><|im_end",
            "  leading and trailing  ",
        ]
    }()

    // MARK: - SmolLM2

    func testConvertWritesACompleteHFDirectory() throws {
        guard let (directory, report) = try convertedSmolLM2() else { return }
        XCTAssertEqual(report.files, ["model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                                      "tokenizer_config.json"])
        XCTAssertEqual(report.tensors, 272)
        XCTAssertEqual(report.parameters, 134_515_008)
        // Byte for byte the tokenizer.json transformers writes for this GGUF.
        let tokenizerJSON = try Data(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        XCTAssertTrue(tokenizerJSON == (try Data(contentsOf: Self.checkpoint.appendingPathComponent("tokenizer.json"))),
                      "tokenizer.json differs from checkpoints/memorag-smollm2-135m/tokenizer.json")
        let config = try TokenizerJSON.readObject(at: directory.appendingPathComponent("tokenizer_config.json"))
        let reference = try TokenizerJSON.readObject(
            at: Self.checkpoint.appendingPathComponent("tokenizer_config.json"))
        for key in ["bos_token", "eos_token", "pad_token", "unk_token", "chat_template"] {
            XCTAssertEqual(config[key] as? String, reference[key] as? String, key)
        }
        XCTAssertEqual(config["add_bos_token"] as? Bool, false)
        XCTAssertEqual(config["add_eos_token"] as? Bool, false)
        XCTAssertEqual(config["model_max_length"] as? Int, 8192)  // llama.context_length
    }

    func testConvertedModelGivesTheGGUFLogits() throws {
        guard let (directory, _) = try convertedSmolLM2() else { return }
        // LanguageModel.load: DecoderLM.load(directory:) + loadTokenizer + ChatTemplate.load for the directory,
        // DecoderLM.load(gguf:) + the GGUF's tokenizer and template for the file.
        let fromDirectory = try LanguageModel.load(directory)
        let fromGGUF = try LanguageModel.load(GGUFTests.smolLM2URL)
        XCTAssertEqual(fromDirectory.model.config.numHiddenLayers, 30)
        XCTAssertEqual(fromDirectory.chatTemplate, fromGGUF.chatTemplate)
        XCTAssertEqual(fromDirectory.stopTokenIds, fromGGUF.stopTokenIds)
        let prompt = try XCTUnwrap(fromGGUF.chatTemplate).render([.user("What is the capital of France?")],
                                                                 addGenerationPrompt: true)
        let ids = fromGGUF.tokenizer.encode(prompt, addSpecialTokens: true)
        XCTAssertEqual(fromDirectory.tokenizer.encode(prompt, addSpecialTokens: true), ids)

        let a = try fromDirectory.model.prefill(ids, cache: fromDirectory.model.makeCache())
        let b = try fromGGUF.model.prefill(ids, cache: fromGGUF.model.makeCache())
        XCTAssertEqual(a.count, 49152)
        XCTAssertEqual(a.count, b.count)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-6, "largest logit difference")
        print("converted vs GGUF last-position logits: max |Δ| = \(worst)"
              + (a.map(\.bitPattern) == b.map(\.bitPattern) ? " (bitwise identical)" : ""))
    }

    func testConvertedTokenizerMatchesTransformersCheckpoint() throws {
        guard let (directory, _) = try convertedSmolLM2() else { return }
        let converted = try loadTokenizer(directory: directory)
        let reference = try loadTokenizer(directory: Self.checkpoint)
        XCTAssertGreaterThan(Self.strings.count, 250, "strings.json not found under \(Self.tokenizerFixtures.path)")
        XCTAssertEqual(converted.vocabularySize, reference.vocabularySize)
        XCTAssertEqual(converted.specialTokens, reference.specialTokens)
        var mismatches = 0
        for s in Self.strings {
            let ids = converted.encode(s, addSpecialTokens: true)
            let same = ids == reference.encode(s, addSpecialTokens: true)
                && converted.encode(s, addSpecialTokens: false) == reference.encode(s, addSpecialTokens: false)
                && converted.decode(ids, skipSpecialTokens: true) == reference.decode(ids, skipSpecialTokens: true)
            if !same {
                mismatches += 1
                if mismatches <= 3 {
                    XCTFail("\(s.debugDescription): \(ids) vs \(reference.encode(s, addSpecialTokens: true))")
                }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testConvertedChatTemplate() throws {
        guard let (directory, _) = try convertedSmolLM2() else { return }
        let template = try ChatTemplate.load(directory: directory)
        XCTAssertEqual(template, .chatML(defaultSystemPrompt:
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        XCTAssertEqual(template, try ChatTemplate.load(directory: Self.checkpoint))
    }

    func testConvertedTokenizerInHFTokenizers() throws {
        guard let python = ProcessInfo.processInfo.environment["MEMORAG_PEER_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set MEMORAG_PEER_PYTHON to a python with `tokenizers` (e.g. the venv scripts/check-venv.sh "
                          + "makes) to check the converted tokenizer.json with HF")
        }
        guard let (directory, _) = try convertedSmolLM2() else { return }
        let tokenizer = try loadTokenizer(directory: directory)
        let cases = Self.strings.map { text -> [String: Any] in
            let plain = tokenizer.encode(text, addSpecialTokens: false)
            return ["text": text, "ids": tokenizer.encode(text, addSpecialTokens: true), "ids_plain": plain,
                    "decoded": tokenizer.decode(plain, skipSpecialTokens: false)]
        }
        let messages = [ChatMessage.user("Hi there"), .assistant("Hello! How can I help?"), .user("Name a colour.")]
        let chat: [String: Any] = [
            "messages": messages.map { ["role": $0.role, "content": $0.content] },
            "rendered": try ChatTemplate.load(directory: directory).render(messages, addGenerationPrompt: true),
        ]
        let scratch = temporaryDirectory()
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let casesURL = scratch.appendingPathComponent("cases.json")
        try JSONSerialization.data(withJSONObject: ["cases": cases, "chat": chat]).write(to: casesURL)

        let arguments: [String] = [Self.tokenizerFixtures.appendingPathComponent("check_tokenizer_ids.py").path,
                             directory.path, casesURL.path]
        let (status, output) = try runPythonCheck(python, arguments)
        XCTAssertEqual(status, 0, "HF disagrees with the converted tokenizer:\n\(output)")
    }

    // MARK: - Tiny fixture

    /// The tiny fixture's vocabulary lacks the "Ġ" its merges use: the tokenizer cannot be built, and the conversion
    /// fails naming the file before writing anything. Without the tokenizer (`memorag convert --no-tokenizer`) the
    /// weights still convert.
    func testUnbuildableTokenizerFailsBeforeWriting() throws {
        let directory = temporaryDirectory()
        XCTAssertThrowsError(try GGUFConversion.convert(gguf: Self.tinyQwen2, to: directory)) { error in
            XCTAssertTrue(error.localizedDescription.contains("tiny_qwen2.gguf"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.path),
                       "a failed conversion left \(directory.path)")
        let report = try GGUFConversion.convert(gguf: Self.tinyQwen2, to: directory, tokenizerFiles: { _ in [:] })
        XCTAssertEqual(report.files, ["model.safetensors", "config.json", "generation_config.json"])
    }
}
