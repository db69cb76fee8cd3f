import Foundation
import TestSupport
import Tokenizers
import XCTest

@testable import Datasets

final class BuilderTests: XCTestCase {
    var dir: URL!
    var tokenizerDir: URL!

    override func setUpWithError() throws {
        dir = try temporaryDirectory("builders")
        tokenizerDir = dir.appendingPathComponent("tok")
        XCTAssertFalse(aliceText.isEmpty, "Examples/alice.txt is missing")
        let lines = aliceText.split(separator: "\n").prefix(400).map(String.init)
        try writeTinyTokenizer(to: tokenizerDir, texts: lines + ["<|im_start|>user\nYou are given a question.<|im_end|>"])
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testEncodeLongEqualsWholeEncoding() throws {
        let tok = try loadTokenizer(directory: tokenizerDir)
        let text = String(aliceText.prefix(30_000))
        XCTAssertEqual(tok.encodeLong(text, pieceBytes: 2_000), tok.encode(text, addSpecialTokens: false))
        let cjk = try String(contentsOf: Bundle.module.url(forResource: "Fixtures/nahan-excerpt", withExtension: "txt")!,
                             encoding: .utf8)
        XCTAssertEqual(tok.encodeLong(cjk, pieceBytes: 300), tok.encode(cjk, addSpecialTokens: false))
        XCTAssertEqual(tok.decode(tok.encodeLong(cjk, pieceBytes: 300), skipSpecialTokens: false), cjk)
    }

    func testPrepareTextAndJSONL() throws {
        let tok = try loadTokenizer(directory: tokenizerDir)
        let hash = try TokenizerFingerprint.sha256(directory: tokenizerDir)
        let inputs = dir.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: inputs.appendingPathComponent("eval"), withIntermediateDirectories: true)
        let chapters = aliceText.components(separatedBy: "CHAPTER ").dropFirst().prefix(4).map { "CHAPTER " + $0 }
        try chapters[0].write(to: inputs.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        let jsonl = chapters[1...].map { c in
            String(decoding: try! JSONSerialization.data(withJSONObject: ["text": c, "id": 1]), as: UTF8.self)
        }.joined(separator: "\n")
        try (jsonl + "\n\n").write(to: inputs.appendingPathComponent("b.jsonl"), atomically: true, encoding: .utf8)
        // An evaluation book in eval/ is skipped when the folder is given...
        try "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be"
            .write(to: inputs.appendingPathComponent("eval/austen-prideprejudice.txt"), atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("p.h5")
        let summary = try PretrainingBuilder.build(inputs: [inputs], tokenizer: tok, tokenizerSHA256: hash, output: out,
                                                   validationFraction: 0.25, seed: 9)
        XCTAssertEqual(summary.documents, 4)
        XCTAssertEqual(summary.validationDocuments, 1)
        let store = try TokenStore(url: out, tokenizerSHA256: hash)
        XCTAssertEqual(store.sources, ["a.txt", "b.jsonl"])
        XCTAssertEqual(store.validationDocuments, DocumentSplit.split(documentCount: 4, validationFraction: 0.25, seed: 9).validation)
        for (i, c) in chapters.enumerated() {
            XCTAssertEqual(try store.document(i).map(Int.init), tok.encode(c, addSpecialTokens: false))
            XCTAssertEqual(tok.decode(try store.document(i).map(Int.init), skipSpecialTokens: false), c)
        }
        // ...but refused when named, or when its text hides in a JSONL record, and nothing is written.
        let refused = dir.appendingPathComponent("r.h5")
        assertThrowsDataError(
            try PretrainingBuilder.build(inputs: [inputs.appendingPathComponent("eval/austen-prideprejudice.txt")],
                                         tokenizer: tok, tokenizerSHA256: hash, output: refused),
            containing: ["evaluation book Pride and Prejudice"])
        let sneaky = inputs.appendingPathComponent("c.jsonl")
        try "{\"text\": \"SIR WALTER ELLIOT, of Kellynch Hall, in Somersetshire, was a man who...\"}\n"
            .write(to: sneaky, atomically: true, encoding: .utf8)
        assertThrowsDataError(try PretrainingBuilder.build(inputs: [inputs], tokenizer: tok, tokenizerSHA256: hash,
                                                           output: refused),
                              containing: ["c.jsonl:1", "Persuasion"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
        try "{\"txt\": 1}\n".write(to: sneaky, atomically: true, encoding: .utf8)
        assertThrowsDataError(try PretrainingBuilder.build(inputs: [sneaky], tokenizer: tok, tokenizerSHA256: hash,
                                                           output: refused),
                              containing: ["c.jsonl:1", "no string field \"text\""])
    }

    func testSFTFromConversations() throws {
        let tok = try loadTokenizer(directory: tokenizerDir)
        let template = try ChatTemplate.load(directory: tokenizerDir)
        let hash = try TokenizerFingerprint.sha256(directory: tokenizerDir)
        let prompts = try PromptSet.builtIn("en")
        let document = String(aliceText.prefix(3000))
        let examples = [
            ClueSynthesis.Example(question: "What did Alice see run close by her?", vagueQuestion: "What did Alice see?",
                                  clue: "a White Rabbit with pink eyes ran close by her", keySentence: "A White Rabbit."),
            ClueSynthesis.Example(question: "Where did Alice fall?", vagueQuestion: nil, clue: "down a very deep well",
                                  keySentence: "Down a well."),
        ]
        var lines = try ClueSynthesis.jsonLines(examples: examples, document: document, source: "alice.txt", prompts: prompts)
        // The same document again, inline, and one example without any context.
        lines.append(String(decoding: try JSONSerialization.data(withJSONObject: [
            "task": "summarize", "context": document,
            "conversations": [["role": "user", "content": prompts.context], ["role": "assistant", "content": prompts.memoryReply],
                              ["role": "user", "content": "Summarize."], ["role": "assistant", "content": "A girl falls."]],
        ]), as: UTF8.self))
        lines.append(#"{"task": "answer", "conversations": [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Alice."}]}"#)
        let input = dir.appendingPathComponent("clues.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("sft.h5")
        let summary = try SFTBuilder.build(input: input, tokenizer: tok, template: template, tokenizerSHA256: hash, output: out)
        XCTAssertEqual(summary.examples, 7)  // 2 recall + 2 answer + 1 rewrite + summarize + context-free answer
        XCTAssertEqual(summary.contexts, 1, "the document is stored once")
        let store = try SFTStore(url: out, tokenizerSHA256: hash)
        XCTAssertEqual(store.tasks, [.recall, .answer, .rewrite, .recall, .answer, .summarize, .answer])
        XCTAssertEqual(store.contextIDs, [0, 0, 0, 0, 0, 0, nil])
        let memory = tok.decode(try store.context(0).map(Int.init), skipSpecialTokens: false)
        XCTAssertEqual(memory, template.render([.user(prompts.context.replacingOccurrences(of: "{context}", with: document)),
                                                .assistant(prompts.memoryReply)], addGenerationPrompt: false))
        let first = try store.example(0)
        XCTAssertEqual(tok.decode(first.prompt.map(Int.init), skipSpecialTokens: false),
                       "<|im_start|>user\n" + prompts.taskPrompt(.recall, question: examples[0].question)!
                       + "<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(tok.decode(first.target.map(Int.init), skipSpecialTokens: false), examples[0].clue + "<|im_end|>\n")
        let rewrite = try store.example(2)
        XCTAssertEqual(tok.decode(rewrite.target.map(Int.init), skipSpecialTokens: false), examples[0].question + "<|im_end|>\n")
        let last = try store.example(6)
        XCTAssertEqual(tok.decode(last.prompt.map(Int.init), skipSpecialTokens: false), "<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\n")

        // Bad records name their line.
        for (record, message) in [
            (#"{"task": "recall", "context_id": "nope", "conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#, "context_id nope was not declared"),
            (#"{"task": "guess", "conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#, "task must be one of"),
            (#"{"task": "recall", "conversations": [{"role": "user", "content": "q"}]}"#, "must be the assistant's"),
            (#"{"context_id": "e", "context": "It is a truth universally acknowledged, that a single man in possession of a good fortune"}"#, "Pride and Prejudice"),
        ] {
            try (record + "\n").write(to: input, atomically: true, encoding: .utf8)
            assertThrowsDataError(try SFTBuilder.build(input: input, tokenizer: tok, template: template, tokenizerSHA256: hash,
                                                       output: out), containing: ["clues.jsonl:1", message])
        }
    }

    func testSFTValidationSplitHoldsOutWholeContexts() throws {
        let tok = try loadTokenizer(directory: tokenizerDir)
        let template = try ChatTemplate.load(directory: tokenizerDir)
        let hash = try TokenizerFingerprint.sha256(directory: tokenizerDir)
        let prompts = try PromptSet.builtIn("en")
        let example = ClueSynthesis.Example(question: "What did Alice see?", vagueQuestion: nil,
                                            clue: "a White Rabbit", keySentence: "A rabbit.")
        let documents = (0..<12).map { String(aliceText.dropFirst($0 * 1_500).prefix(1_200)) }
        var lines: [String] = []
        for (i, document) in documents.enumerated() {
            lines += try ClueSynthesis.jsonLines(examples: [example], document: document, source: "d\(i).txt", prompts: prompts)
        }
        // The first document once more, inline rather than by context_id: it must land on the same side.
        lines.append(String(decoding: try JSONSerialization.data(withJSONObject: [
            "task": "summarize", "context": documents[0],
            "conversations": [["role": "user", "content": prompts.context], ["role": "assistant", "content": prompts.memoryReply],
                              ["role": "user", "content": "Summarize."], ["role": "assistant", "content": "A girl reads."]],
        ]), as: UTF8.self))
        let input = dir.appendingPathComponent("clues.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        let whole = try SFTBuilder.build(input: input, tokenizer: tok, template: template, tokenizerSHA256: hash,
                                         output: dir.appendingPathComponent("all.h5"))

        func split(seed: UInt64) throws -> (SFTBuilder.Summary, train: Set<[UInt32]>, validation: Set<[UInt32]>) {
            let train = dir.appendingPathComponent("train-\(seed).h5"), held = dir.appendingPathComponent("val-\(seed).h5")
            let summary = try SFTBuilder.build(input: input, tokenizer: tok, template: template, tokenizerSHA256: hash,
                                               output: train, validation: .init(output: held, fraction: 0.3, seed: seed))
            func contexts(_ url: URL) throws -> Set<[UInt32]> {
                let store = try SFTStore(url: url, tokenizerSHA256: hash)
                return Set(try (0..<store.contextCount).map { try store.context($0) })
            }
            return (summary, try contexts(train), try contexts(held))
        }
        let (summary, train, validation) = try split(seed: 3)
        XCTAssertEqual(summary.examples + summary.validationExamples, whole.examples)
        XCTAssertEqual(summary.contexts + summary.validationContexts, whole.contexts, "no context is on both sides")
        XCTAssertGreaterThan(summary.validationContexts, 0)
        XCTAssertGreaterThan(summary.contexts, 0)
        XCTAssertTrue(train.isDisjoint(with: validation))
        XCTAssertEqual(whole.examples, 12 * 2 + 1)  // a recall and an answer per document, and the summary
        XCTAssertEqual(try split(seed: 3).validation, validation, "the split is seeded")
        XCTAssertTrue(try (4..<10).contains { try split(seed: $0).validation != validation }, "the seed moves the split")

        // A fraction no context falls under is an error, and neither store is left behind.
        let trainURL = dir.appendingPathComponent("t.h5"), heldURL = dir.appendingPathComponent("v.h5")
        assertThrowsDataError(try SFTBuilder.build(input: input, tokenizer: tok, template: template, tokenizerSHA256: hash,
                                                   output: trainURL, validation: .init(output: heldURL, fraction: 1e-12, seed: 0)),
                              containing: ["clues.jsonl", "validation fraction", "raise it"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: trainURL.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: heldURL.path))
    }
}
