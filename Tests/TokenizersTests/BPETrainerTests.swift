import Foundation
import XCTest
import TestSupport
@testable import Tokenizers

/// BPETrainer on a committed corpus (Fixtures/bpe_corpus.txt, from make_bpe_trainer_fixtures.py), against HF's own
/// BpeTrainer (bpe_trainer_hf.json) and, with MEMORAG_PEER_PYTHON set, HF `tokenizers` loading what we write.
final class BPETrainerTests: XCTestCase {
    struct HFReference: Decodable {
        struct PreTokenized: Decodable {
            let text: String
            let pieces: [String]
        }

        let vocab_size: Int
        let min_frequency: Int
        let special_tokens: [String]
        let vocab: [String]
        let merges: [String]
        let pretokenize: [PreTokenized]
    }

    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    static let corpusURL = fixtures.appendingPathComponent("bpe_corpus.txt")
    static let reference: HFReference = try! JSONDecoder().decode(
        HFReference.self, from: Data(contentsOf: fixtures.appendingPathComponent("bpe_trainer_hf.json")))

    /// The corpus trained with the reference's settings (trained once for the tests that only read it).
    static let trained: TrainedBPE = try! BPETrainer.train(
        files: [corpusURL], vocabSize: reference.vocab_size, minFrequency: reference.min_frequency,
        specialTokens: reference.special_tokens)

    static var corpusLines: [String] {
        let text = try! String(contentsOf: corpusURL, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 + "\n" }
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-trainer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    // MARK: - Invariants

    func testVocabularySizeReachedAndMergesValid() {
        let trained = Self.trained
        let specials = Self.reference.special_tokens
        XCTAssertEqual(trained.vocabulary.count, Self.reference.vocab_size)
        XCTAssertEqual(Array(trained.vocabulary.prefix(specials.count)), specials)
        // The 256 byte symbols follow, by code point.
        let symbols = trained.vocabulary[specials.count..<(specials.count + 256)]
        XCTAssertEqual(Set(symbols), Set(ByteLevel.byteToScalar.map { String($0) }))
        XCTAssertEqual(Array(symbols), symbols.sorted { $0.unicodeScalars.first!.value < $1.unicodeScalars.first!.value })
        XCTAssertEqual(Array(symbols.prefix(3)), ["!", "\"", "#"])
        XCTAssertTrue(symbols.contains("Ġ") && symbols.contains("Ċ"))
        // Every merge joins two tokens that exist by then and makes the next token (or an existing one).
        var known = Set(trained.vocabulary.prefix(specials.count + 256))
        XCTAssertEqual(trained.merges.count, trained.vocabulary.count - specials.count - 256)
        for (index, merge) in trained.merges.enumerated() {
            XCTAssertTrue(known.contains(merge.left) && known.contains(merge.right), "merge \(index) \(merge)")
            XCTAssertFalse(specials.contains(merge.left) || specials.contains(merge.right))
            XCTAssertEqual(trained.vocabulary[specials.count + 256 + index], merge.left + merge.right)
            known.insert(merge.left + merge.right)
        }
        XCTAssertEqual(Set(trained.merges).count, trained.merges.count, "no merge twice")
        XCTAssertEqual(trained.statistics.bytes, try Data(contentsOf: Self.corpusURL).count)
        XCTAssertEqual(trained.statistics.texts, Self.corpusLines.count)
    }

    func testDeterministic() throws {
        let again = try BPETrainer.train(
            files: [Self.corpusURL], vocabSize: Self.reference.vocab_size, minFrequency: Self.reference.min_frequency,
            specialTokens: Self.reference.special_tokens)
        XCTAssertEqual(again, Self.trained)
        XCTAssertEqual(again.tokenizerJSON(), Self.trained.tokenizerJSON())
        // Lines as texts: the same training.
        let fromTexts = try BPETrainer.train(
            texts: Self.corpusLines, vocabSize: Self.reference.vocab_size, minFrequency: Self.reference.min_frequency,
            specialTokens: Self.reference.special_tokens)
        XCTAssertEqual(fromTexts, Self.trained)
        // Written files are byte-identical.
        let a = try temporaryDirectory()
        let b = try temporaryDirectory()
        try Self.trained.write(to: a)
        try again.write(to: b)
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            XCTAssertEqual(try Data(contentsOf: a.appendingPathComponent(name)),
                           try Data(contentsOf: b.appendingPathComponent(name)), name)
        }
    }

    /// The optimized trainer against a naive one (full recount of pair frequencies after every merge, same tie
    /// rule) on part of the corpus.
    func testIncrementalUpdatesMatchNaiveRecount() throws {
        let lines = Array(Self.corpusLines.prefix(150))
        let vocabSize = 257 + 250
        let fast = try BPETrainer.train(texts: lines, vocabSize: vocabSize, minFrequency: 2)

        var counts: [[UInt8]: Int] = [:]
        for line in lines {
            var line = line
            line.withUTF8 { buffer in
                var pieces: [Range<Int>] = []
                SplitPattern.gpt2.split(buffer.baseAddress!, 0..<buffer.count, into: &pieces)
                for piece in pieces { counts[Array(buffer[piece]), default: 0] += 1 }
            }
        }
        var vocabulary = ["<|endoftext|>"] + ByteLevel.byteToScalar.sorted { $0.value < $1.value }.map { String($0) }
        var ids = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, $0) })
        var words = counts.map { (word: $0.key.map { ids[String(ByteLevel.byteToScalar[Int($0)])]! }, count: $0.value) }
        var merges: [TrainedBPE.Merge] = []
        while vocabulary.count < vocabSize {
            var pairs: [[Int]: Int] = [:]
            for (word, count) in words where word.count > 1 {
                for i in 0..<(word.count - 1) { pairs[[word[i], word[i + 1]], default: 0] += count }
            }
            guard let best = pairs.max(by: { $0.value != $1.value ? $0.value < $1.value
                                                : ($0.key[0], $0.key[1]) > ($1.key[0], $1.key[1]) }),
                  best.value >= 2 else { break }
            let token = vocabulary[best.key[0]] + vocabulary[best.key[1]]
            let id = ids[token] ?? vocabulary.count
            if ids[token] == nil {
                vocabulary.append(token)
                ids[token] = id
            }
            merges.append(TrainedBPE.Merge(left: vocabulary[best.key[0]], right: vocabulary[best.key[1]]))
            for index in words.indices {
                var merged: [Int] = []
                var word = words[index].word
                var i = 0
                while i < word.count {
                    if i + 1 < word.count && word[i] == best.key[0] && word[i + 1] == best.key[1] {
                        merged.append(id)
                        i += 2
                    } else {
                        merged.append(word[i])
                        i += 1
                    }
                }
                word = merged
                words[index].word = word
            }
        }
        XCTAssertEqual(fast.merges, merges)
        XCTAssertEqual(fast.vocabulary, vocabulary)
    }

    // MARK: - Against HF

    func testPreTokenizerMatchesHF() {
        for item in Self.reference.pretokenize {
            var pieces: [String] = []
            var text = item.text
            text.withUTF8 { buffer in
                guard let base = buffer.baseAddress else { return }
                var ranges: [Range<Int>] = []
                SplitPattern.gpt2.split(base, 0..<buffer.count, into: &ranges)
                // HF reports pieces in byte-level symbols.
                pieces = ranges.map { ByteLevel.encode(buffer[$0]) }
            }
            XCTAssertEqual(pieces, item.pieces, item.text.debugDescription)
        }
    }

    /// HF's BpeTrainer on the same corpus and settings (bpe_trainer_hf.json): same word counts and the same tie
    /// rule should give the same merges.
    func testMergesAgainstHFTrainer() {
        let ours = Self.trained.merges.map(\.description)
        let theirs = Self.reference.merges
        var prefix = 0
        while prefix < min(ours.count, theirs.count) && ours[prefix] == theirs[prefix] { prefix += 1 }
        let common = Set(ours).intersection(theirs).count
        print("BPETrainer vs HF BpeTrainer (vocab \(Self.reference.vocab_size)): \(ours.count) vs \(theirs.count) merges, "
              + "identical prefix \(prefix), in common \(common) "
              + String(format: "(%.1f%%)", 100 * Double(common) / Double(max(1, theirs.count))))
        XCTAssertEqual(ours, theirs, "merges differ from HF's from merge \(prefix)")
        XCTAssertEqual(Self.trained.vocabulary, Self.reference.vocab)
    }

    func testInteropWithHFTokenizers() throws {
        guard let python = ProcessInfo.processInfo.environment["MEMORAG_PEER_PYTHON"], !python.isEmpty else {
            throw XCTSkip("set MEMORAG_PEER_PYTHON to a python with `tokenizers` (e.g. "
                          + "/root/.cache/memorag/venv-peer/bin/python) to check the written tokenizer.json with HF")
        }
        let directory = try temporaryDirectory()
        try Self.trained.write(to: directory, modelMaxLength: 2048)
        var texts = Array(Self.corpusLines.prefix(300)) + Self.reference.pretokenize.map(\.text)
        texts += ["hello<|endoftext|>world<|pad|>", "<|endoftext|><|endoftext|>", "unseen: ζωή 🙂 ∮ ﷺ \u{0}",
                  String(repeating: "the ", count: 500), Self.corpusLines.joined()]
        let cases = texts.map { ["text": $0, "ids": Self.trained.encode($0)] as [String: Any] }
        let casesURL = directory.appendingPathComponent("cases.json")
        try JSONSerialization.data(withJSONObject: ["cases": cases]).write(to: casesURL)

        var arguments = [Self.fixtures.appendingPathComponent("check_trained_tokenizer.py").path, directory.path,
                         casesURL.path, "--corpus", Self.corpusURL.path,
                         "--vocab-size", "\(Self.reference.vocab_size)",
                         "--min-frequency", "\(Self.reference.min_frequency)"]
        for token in Self.reference.special_tokens { arguments += ["--special-token", token] }
        let (status, output) = try runPythonCheck(python, arguments)
        XCTAssertEqual(status, 0, "HF disagrees with the Swift encoder:\n\(output)")
    }

    /// The library's loader (`loadTokenizer`, i.e. `BPETokenizer`) on the written files encodes and decodes as the
    /// trainer's reference encoder (which HF agrees with, see `testInteropWithHFTokenizers`).
    func testLibraryTokenizerEncodesLikeTheTrainer() throws {
        let directory = try temporaryDirectory()
        try Self.trained.write(to: directory)
        let tokenizer = try loadTokenizer(directory: directory)
        XCTAssertEqual(tokenizer.vocabularySize, Self.trained.vocabulary.count)
        var texts = Array(Self.corpusLines.prefix(400)) + Self.reference.pretokenize.map(\.text)
        texts += ["hello<|endoftext|>world<|pad|>", "unseen: ζωή 🙂 ∮ \u{0}", Self.corpusLines.joined()]
        var mismatches = 0
        for text in texts {
            let expected = Self.trained.encode(text)
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            if ids != expected {
                mismatches += 1
                if mismatches <= 5 { XCTFail("\(text.prefix(60).debugDescription): \(ids.prefix(20)) != \(expected.prefix(20))") }
            }
            XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), Self.trained.decode(expected))
        }
        XCTAssertEqual(mismatches, 0)
        XCTAssertEqual(tokenizer.id(for: "<|endoftext|>"), 0)
    }

    // MARK: - Encoding and files

    func testEncodeDecodeRoundTrip() {
        let trained = Self.trained
        var tokens = 0
        var bytes = 0
        for line in Self.corpusLines.prefix(500) {
            let ids = trained.encode(line)
            XCTAssertEqual(trained.decode(ids), line)
            tokens += ids.count
            bytes += line.utf8.count
        }
        XCTAssertLessThan(Double(tokens), Double(bytes) / 3, "BPE should compress its own corpus")
        XCTAssertEqual(trained.encode("<|endoftext|>"), [0])
        XCTAssertEqual(trained.encode("a<|pad|>b").count, 3)
        XCTAssertEqual(trained.decode(trained.encode("x<|pad|>y"), skipSpecialTokens: true), "xy")
        XCTAssertEqual(trained.decode(trained.encode("ünïcödé 🙂 中文")), "ünïcödé 🙂 中文")
        XCTAssertEqual(trained.encode(""), [])
    }

    func testWrittenFilesAreHFShaped() throws {
        let directory = try temporaryDirectory()
        try Self.trained.write(to: directory, modelMaxLength: 1024)
        let json = try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("tokenizer.json"))) as! [String: Any]
        let model = json["model"] as! [String: Any]
        XCTAssertEqual(model["type"] as? String, "BPE")
        let vocab = model["vocab"] as! [String: Int]
        XCTAssertEqual(vocab.count, Self.trained.vocabulary.count)
        for (id, token) in Self.trained.vocabulary.enumerated() { XCTAssertEqual(vocab[token], id) }
        XCTAssertEqual(model["merges"] as? [String], Self.trained.merges.map(\.description))
        let pre = json["pre_tokenizer"] as! [String: Any]
        XCTAssertEqual(pre["type"] as? String, "ByteLevel")
        XCTAssertEqual(pre["add_prefix_space"] as? Bool, false)
        XCTAssertEqual(pre["use_regex"] as? Bool, true)
        XCTAssertEqual((json["decoder"] as? [String: Any])?["type"] as? String, "ByteLevel")
        let added = json["added_tokens"] as! [[String: Any]]
        XCTAssertEqual(added.map { $0["content"] as? String }, Self.reference.special_tokens)
        XCTAssertEqual(added.map { $0["id"] as? Int }, [0, 1])
        XCTAssertTrue(added.allSatisfy { $0["special"] as? Bool == true && $0["normalized"] as? Bool == false })
        let config = try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("tokenizer_config.json"))) as! [String: Any]
        XCTAssertEqual(config["tokenizer_class"] as? String, "PreTrainedTokenizerFast")
        XCTAssertEqual(config["eos_token"] as? String, "<|endoftext|>")
        XCTAssertEqual(config["model_max_length"] as? Int, 1024)
        // Escaping.
        XCTAssertEqual(TrainedBPE.quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"")
    }

    // MARK: - Settings and errors

    func testMinFrequencyStopsEarly() throws {
        let trained = try BPETrainer.train(texts: ["abab abab", "cdcd"], vocabSize: 300, minFrequency: 2)
        // "ab" x4 then "abab" x2 (a word "abab" twice) … nothing else reaches 2.
        XCTAssertLessThan(trained.vocabulary.count, 300)
        XCTAssertFalse(trained.merges.isEmpty)
        let none = try BPETrainer.train(texts: ["abc"], vocabSize: 300, minFrequency: 2)
        XCTAssertTrue(none.merges.isEmpty)
        XCTAssertEqual(none.vocabulary.count, 257)
        let once = try BPETrainer.train(texts: ["abc"], vocabSize: 300, minFrequency: 1)
        XCTAssertEqual(once.merges.map(\.description), ["a b", "ab c"])
    }

    func testTiesGoToTheSmallestPair() throws {
        // Words "xy" ×1, "Ġab" ×2, "Ġxy" ×1: (a, b), (x, y) and (Ġ, a) all occur twice; the smallest ids win,
        // and "Ġ" (U+0120) sorts after the letters. Then (x, y) ties with (Ġ, ab) and goes first.
        let trained = try BPETrainer.train(texts: ["xy ab xy ab"], vocabSize: 259, minFrequency: 1, specialTokens: [])
        XCTAssertEqual(trained.merges.map(\.description), ["a b", "x y", "Ġ ab"])
    }

    func testFileErrorsNameTheFile() throws {
        let directory = try temporaryDirectory()
        let empty = directory.appendingPathComponent("empty.txt")
        try Data().write(to: empty)
        XCTAssertThrowsError(try BPETrainer.train(files: [Self.corpusURL, empty], vocabSize: 300)) { error in
            XCTAssertEqual(error as? BPETrainerError, .emptyFile(path: empty.path))
            XCTAssertTrue(error.localizedDescription.contains("empty.txt"))
        }
        let latin1 = directory.appendingPathComponent("latin1.txt")
        try Data("caf".utf8 + [0xE9] + Array("\nok\n".utf8)).write(to: latin1)
        XCTAssertThrowsError(try BPETrainer.train(files: [latin1], vocabSize: 300)) { error in
            XCTAssertEqual(error as? BPETrainerError, .notUTF8(path: latin1.path, byteOffset: 3, line: 1))
            XCTAssertTrue(error.localizedDescription.contains("latin1.txt"))
        }
        let missing = directory.appendingPathComponent("missing.txt")
        XCTAssertThrowsError(try BPETrainer.train(files: [missing], vocabSize: 300)) { error in
            XCTAssertTrue(error.localizedDescription.contains("missing.txt"))
        }
    }

    func testUTF8Validation() {
        func check(_ bytes: [UInt8]) -> Int? { bytes.withUnsafeBufferPointer { BPETrainer.firstInvalidUTF8($0) } }
        XCTAssertNil(check(Array("héllo wörld 中文 🙂".utf8)))
        XCTAssertEqual(check([0x61, 0xC0, 0x80]), 1)        // overlong
        XCTAssertEqual(check([0xE0, 0x80, 0x80]), 0)        // overlong
        XCTAssertEqual(check([0xED, 0xA0, 0x80]), 0)        // surrogate
        XCTAssertEqual(check([0xF4, 0x90, 0x80, 0x80]), 0)  // above U+10FFFF
        XCTAssertEqual(check([0x61, 0x62, 0xE4, 0xB8]), 2)  // truncated
        XCTAssertEqual(check([0x80]), 0)
    }

    func testSettingsErrors() {
        XCTAssertThrowsError(try BPETrainer.train(texts: ["a"], vocabSize: 100)) { error in
            XCTAssertEqual(error as? BPETrainerError, .vocabularyTooSmall(requested: 100, minimum: 257))
        }
        XCTAssertThrowsError(try BPETrainer.train(texts: ["a"], vocabSize: 300, specialTokens: ["<s>", "<s>"]))
        XCTAssertThrowsError(try BPETrainer.train(texts: ["a"], vocabSize: 300, specialTokens: [""]))
        XCTAssertNoThrow(try BPETrainer.train(texts: [], vocabSize: 256, specialTokens: []))
    }

    func testProgressIsReported() throws {
        var phases: [BPETrainer.Progress.Phase] = []
        var last: BPETrainer.Progress?
        _ = try BPETrainer.train(files: [Self.corpusURL], vocabSize: 400) { progress in
            if phases.last != progress.phase { phases.append(progress.phase) }
            last = progress
        }
        XCTAssertEqual(phases, [.counting, .merging, .done])
        XCTAssertEqual(last?.merges, 400 - 257)
        XCTAssertEqual(last?.mergesTarget, 400 - 257)
        XCTAssertEqual(last?.files, 1)
    }

    /// Prints the training time for the corpus repeated to ~2 MB (meaningful in release builds).
    func testTrainingSpeed() throws {
        let lines = Self.corpusLines
        var texts: [String] = []
        for round in 0..<10 { texts += lines.map { "\(round) " + $0 } }
        let start = Date()
        let trained = try BPETrainer.train(texts: texts, vocabSize: 1500)
        let seconds = Date().timeIntervalSince(start)
        print("BPETrainer: \(trained.statistics.bytes) bytes, \(trained.merges.count) merges in "
              + String(format: "%.2f s", seconds))
        XCTAssertEqual(trained.vocabulary.count, 1500)
    }
}
