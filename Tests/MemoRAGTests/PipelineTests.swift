import Foundation
import Models
import TestSupport
import TinyModels
import Torch
import XCTest

@testable import MemoRAG

/// The pipeline end to end on tiny random models made at test time (a Llama memory model, a BERT retriever; see
/// `TinyModels`), with short documents and short replies so each test takes seconds on any machine. What they
/// check is the mechanics — caches, evidence, reloads, errors — not the quality of the answers.
final class PipelineTests: XCTestCase {
    static let lighthouse = """
        The lighthouse on Gull Rock was kept by Marta Vell for thirty-one years. Every evening she climbed the \
        hundred and twelve steps to light the great lamp, and every morning she wrote the weather in a green ledger.

        In the winter of the great storm, a fishing boat called the Silver Herring lost its rudder near the rocks. \
        Marta rowed out alone in the dark and brought the four fishermen back to the island, where they stayed for \
        three days until the sea calmed.

        When the lamp was finally replaced by an automatic beacon, Marta moved to the village and opened a small \
        shop that sold maps, candles and tide tables. She kept the green ledgers on a shelf behind the counter.
        """

    static let bees = """
        Tomas Brandt kept forty hives on the hills above the valley town of Lenz. He painted each hive a different \
        colour so the bees could find their way home, and he named the queens after rivers.

        One summer a sickness took half of the colonies. Tomas spent the autumn reading old books about bees and \
        found that the hives needed more air, so he drilled small holes under every roof.

        The next spring the colonies recovered, and the honey from the lime trees won a prize at the town fair. \
        Tomas gave the prize money to the school so the children could build a glass observation hive.
        """

    static let orchard = """
        The old orchard behind the mill grew nineteen kinds of apple. Its keeper, Ilse Moor, grafted new branches \
        every March and wrote the name of each variety on a slate tied to the trunk.
        """

    /// One set of models for every test (loading them takes seconds).
    nonisolated(unsafe) static var shared: [MemoryMode: MemoRAGModels] = [:]

    func pipeline(mode: MemoryMode = .longllm) throws -> MemoRAG {
        if let models = Self.shared[mode] { return MemoRAG(models: models) }
        let models = try MemoRAGModels(configuration: configuration(mode: mode))
        Self.shared[mode] = models
        return MemoRAG(models: models)
    }

    func configuration(mode: MemoryMode = .longllm) throws -> MemoRAGConfiguration {
        let tiny = try TinyModels.shared()
        var configuration = MemoRAGConfiguration(memoryModel: tiny.memoryModel, retriever: tiny.retriever)
        configuration.mode = mode
        configuration.dtype = .float32
        configuration.chunkTokens = 64
        configuration.clueTokens = 24
        configuration.answerTokens = 16
        configuration.summaryTokens = 24
        return configuration
    }

    /// With the reference's generator (the memory model continuing from the memory).
    func testMemorizeLoadAskGivesIdenticalResults() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("cache")
        var continuing = try configuration()
        continuing.generator = .memoryModel
        let models = try MemoRAGModels(configuration: continuing)
        let rag = MemoRAG(models: models)
        let report = try await rag.memorize(Self.lighthouse, name: "lighthouse", cacheDir: dir)
        XCTAssertGreaterThan(report.chunks, 1)
        XCTAssertEqual(report.truncatedChunks, 0)
        for file in ["manifest.json", "memory.safetensors", "chunks.jsonl", "index.faiss"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        let first = try await rag.ask("Who rescued the fishermen of the Silver Herring?")
        XCTAssertFalse(first.evidence.isEmpty)
        XCTAssertTrue(first.clues.contains { $0.kind == .query })
        // Evidence comes back in document order and each passage is the text at its offsets.
        XCTAssertEqual(first.evidence.map(\.chunkId), first.evidence.map(\.chunkId).sorted())
        let scalars = Array(Self.lighthouse.unicodeScalars)
        for e in first.evidence {
            XCTAssertEqual(String(String.UnicodeScalarView(scalars[e.start..<e.end])), e.text)
        }

        let reloaded = MemoRAG(models: models)
        try await reloaded.load(cacheDir: dir)
        let second = try await reloaded.ask("Who rescued the fishermen of the Silver Herring?")
        XCTAssertEqual(second.answer, first.answer)
        XCTAssertEqual(second.clues, first.clues)
        XCTAssertEqual(second.evidence, first.evidence)

        // And in a new process, through the CLI.
        guard let memorag = builtExecutable("memorag") else { return XCTFail("the memorag binary is not built") }
        let config = try configuration()
        let run = try runProcess(memorag, [
            "ask", "--cache", dir.path, "--json", "--dtype", "fp32", "--model", config.memoryModel.path,
            "--retriever", config.retriever.path, "--clue-tokens", "\(config.clueTokens)",
            "--max-new-tokens", "\(config.answerLimit)", "--generator", "memory",
            "Who rescued the fishermen of the Silver Herring?"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let third = try JSONDecoder().decode(AskResult.self, from: Data(run.stdout.utf8))
        XCTAssertEqual(third.answer, first.answer)
        XCTAssertEqual(third.clues, first.clues)
        XCTAssertEqual(third.evidence.map(\.chunkId), first.evidence.map(\.chunkId))
        XCTAssertEqual(third.evidence.map(\.text), first.evidence.map(\.text))
    }

    /// `.memoryModelOnEvidence` answers with the memory model's own weights from the evidence alone: exactly what a
    /// separately loaded copy of the same model (`.localModel`) answers, without loading it twice.
    func testTheMemoryModelOnEvidenceAnswersLikeASeparateCopyWithoutMemory() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("cache")
        var onEvidence = try configuration()
        onEvidence.generator = .memoryModelOnEvidence
        let rag = try MemoRAG(configuration: onEvidence)
        try await rag.memorize(Self.lighthouse, name: "lighthouse", cacheDir: dir)
        let first = try await rag.ask("Who rescued the fishermen of the Silver Herring?")
        XCTAssertFalse(first.answer.isEmpty)
        var separate = try configuration()
        separate.generator = .localModel(separate.memoryModel)
        let other = try MemoRAG(configuration: separate)
        try await other.load(cacheDir: dir)
        let second = try await other.ask("Who rescued the fishermen of the Silver Herring?")
        XCTAssertEqual(second.clues, first.clues)
        XCTAssertEqual(second.evidence, first.evidence)
        XCTAssertEqual(second.answer, first.answer)
        XCTAssertNil(rag.models.generatorLoad, "no separate generator to load")
        XCTAssertEqual(other.models.generatorLoad?.route, .slow, "prepared weights are off in this configuration")

        // A separate generator uses the prepared-weights cache too. Here it is the memory model's own file, so the
        // memory model's first load writes what the generator then maps; later the memory model maps it as well.
        separate.preparedWeights = PreparedWeightsCache(directory: try temporaryDirectory())
        for memoryRoute in [PreparedLoad.Route.slow, .prepared] {
            let cached = try MemoRAG(configuration: separate)
            XCTAssertEqual(cached.models.memoryModelLoad.route, memoryRoute)
            XCTAssertEqual(cached.models.generatorLoad?.route, .prepared)
            XCTAssertEqual(cached.models.generatorLoad?.notices, [])
            try await cached.load(cacheDir: dir)
            let answer = try await cached.ask("Who rescued the fishermen of the Silver Herring?").answer
            XCTAssertEqual(answer, first.answer)
        }
    }

    /// The copied answer style: the answer is words of one retrieved passage, whatever the (random) model prefers.
    func testACopiedAnswerIsASpanOfOnePassage() async throws {
        var copying = try configuration()
        copying.answerStyle = .copied
        let rag = try MemoRAG(configuration: copying)
        try await rag.memorize(Self.lighthouse, name: "lighthouse", cacheDir: try temporaryDirectory().appendingPathComponent("cache"))
        let result = try await rag.ask("Who rescued the fishermen of the Silver Herring?")
        let answer = result.answer.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(answer.isEmpty)
        XCTAssertTrue(result.evidence.contains { $0.text.contains(answer) }, "'\(answer)' is in no passage")
    }

    /// Copied span clues: every recalled line is words of the memorized document, whatever the (random) model
    /// prefers; surrogate questions stay free.
    func testCopiedSpanCluesAreSpansOfTheDocument() async throws {
        var copying = try configuration()
        copying.spanClueStyle = .copied
        copying.clueTokens = 64
        let rag = try MemoRAG(configuration: copying)
        try await rag.memorize(Self.lighthouse, name: "lighthouse", cacheDir: try temporaryDirectory().appendingPathComponent("cache"))
        let clues = try await rag.recall("What did Marta write every morning?")
        XCTAssertFalse(clues.isEmpty, "no copied clue survived the clue filter")
        let words = { (text: String) in text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        for clue in clues {
            XCTAssertTrue(words(Self.lighthouse).contains(words(clue.text)), "'\(clue.text)' is not a span of the document")
        }
        // The first recall kept the document's constraint; asked again, the clues are the same.
        let (kept, documents) = (await rag.copiedSpanCache?.key, await rag.manifest?.documents.map(\.sha256))
        XCTAssertEqual(kept, documents)
        let again = try await rag.recall("What did Marta write every morning?")
        XCTAssertEqual(again.map(\.text), clues.map(\.text))
    }

    /// `int8Weights` runs the memory model on packed int8 weights: a cache memorized with float weights loads (the
    /// fingerprint is the float weights'), and the beacon memory, clues, retrieval and answer all run.
    func testInt8WeightsServeACacheMadeWithFloatWeights() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("cache")
        let rag = try pipeline(mode: .beacon)
        try await rag.memorize(Self.lighthouse, name: "lighthouse", cacheDir: dir)
        let exact = try await rag.ask("Who rescued the fishermen of the Silver Herring?")
        var configuration = try configuration(mode: .beacon)
        configuration.int8Weights = true
        let quantized = try MemoRAG(configuration: configuration)
        try await quantized.load(cacheDir: dir)
        let result = try await quantized.ask("Who rescued the fishermen of the Silver Herring?")
        XCTAssertFalse(result.answer.isEmpty)
        XCTAssertFalse(result.evidence.isEmpty)
        XCTAssertTrue(quantized.models.memoryModel.lm.model.isInt8)
        XCTAssertFalse(rag.models.memoryModel.lm.model.isInt8)
        // The float pipeline is not touched by the other one's packing.
        let again = try await rag.ask("Who rescued the fishermen of the Silver Herring?")
        XCTAssertEqual(again.answer, exact.answer)

        configuration.dtype = .bfloat16
        XCTAssertThrowsError(try MemoRAG(configuration: configuration)) { error in
            XCTAssertTrue("\(error)".contains("float32"), "\(error)")
        }
    }

    /// `evidenceTokens` caps the passages given to the generator: the best-scored ones that fit, the rest dropped.
    /// Unset, a local generator gets `localEvidenceTokens`; `Int.max` fills what the context holds.
    func testTheEvidenceCapKeepsTheBestPassagesThatFit() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("cache")
        // Without re-ranking, the ranking's order is its scores' order, so "the best" can be read off the scores.
        var filling = try configuration()
        filling.rerankDepth = 0
        filling.evidenceTokens = .max
        let rag = try MemoRAG(configuration: filling)
        try await rag.memorize(Self.lighthouse + "\n\n" + Self.bees, name: "two", cacheDir: dir)
        let question = "Who rescued the fishermen of the Silver Herring?"
        let open = try await rag.ask(question)
        XCTAssertGreaterThan(open.evidence.count, 1)
        XCTAssertEqual(open.droppedEvidence, 0)

        var capped = try configuration()
        capped.rerankDepth = 0
        capped.evidenceTokens = 120
        let small = try MemoRAG(configuration: capped)
        try await small.load(cacheDir: dir)
        let result = try await small.ask(question)
        var defaulted = try configuration()
        defaulted.rerankDepth = 0
        defaulted.localEvidenceTokens = 120
        let byDefault = try MemoRAG(configuration: defaulted)
        try await byDefault.load(cacheDir: dir)
        let sameCap = try await byDefault.ask(question)
        XCTAssertEqual(sameCap.evidence, result.evidence)
        XCTAssertEqual(result.clues, open.clues)
        let tokenizer = small.models.memoryModel.lm.tokenizer
        let used = result.evidence.map { tokenizer.encode($0.text, addSpecialTokens: false).count + 2 }.reduce(0, +)
        XCTAssertLessThanOrEqual(used, 120)
        XCTAssertLessThan(result.evidence.count, open.evidence.count)
        XCTAssertEqual(result.droppedEvidence, open.evidence.count + open.droppedEvidence - result.evidence.count)
        // What was kept is the best of what the uncapped answer saw.
        let best = open.evidence.map(\.score).max()!
        XCTAssertEqual(result.evidence.map(\.score).max() ?? -1, best, accuracy: 1e-6)
    }

    /// Snippets: the sentences of the passages closest to the question, in document order. A question that is a
    /// snippet's own text is closest to it (cosine 1), whatever the random retriever makes of the rest; asked for
    /// as many snippets as there are, every one comes back in order.
    func testSnippetsAreTheSentencesClosestToTheQuestionInDocumentOrder() async throws {
        let rag = try pipeline()
        let embedder = await rag.embedder
        let passages = [Self.lighthouse, Self.bees].enumerated().map { i, text in
            Evidence(chunkId: i, document: "stories", start: 0, end: text.count, score: 0, text: text)
        }
        let all = try EvidenceSnippets.closest(100, of: passages, to: "anything", embedder: embedder)
        XCTAssertGreaterThan(all.count, 4)
        XCTAssertTrue(all.allSatisfy { snippet in passages.contains { $0.text.contains(snippet) } })
        let joined = passages.map(\.text).joined(separator: " ")
        XCTAssertEqual(all.map { joined.range(of: $0)!.lowerBound }, all.map { joined.range(of: $0)!.lowerBound }.sorted())
        XCTAssertEqual(try EvidenceSnippets.closest(1, of: passages, to: all[3], embedder: embedder), [all[3]])
        let two = try EvidenceSnippets.closest(2, of: passages, to: all[4], embedder: embedder)
        XCTAssertEqual(two.count, 2)
        XCTAssertTrue(two.contains(all[4]))

        // In the pipeline, the answer prompt holds the snippets while the result still lists the passages read.
        let (_, result) = try await askReadingOneSnippet(answerStyle: .copied)
        let answer = result.answer.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(result.evidence.isEmpty)
        let snippet = try EvidenceSnippets.closest(1, of: result.evidence, to: result.query, embedder: embedder)
        XCTAssertEqual(result.snippets, snippet)
        XCTAssertTrue(snippet[0].contains(answer), "'\(answer)' is not copied from the one snippet read: '\(snippet[0])'")
    }

    /// The lighthouse story memorized by a pipeline whose generator reads one snippet, and its answer to one question.
    private func askReadingOneSnippet(answerStyle: AnswerStyle) async throws -> (MemoRAG, AskResult) {
        var reading = try configuration()
        reading.evidenceSnippets = 1
        reading.answerStyle = answerStyle
        let rag = try MemoRAG(configuration: reading)
        try await rag.memorize(Self.lighthouse, name: "lighthouse", cacheDir: try temporaryDirectory().appendingPathComponent("cache"))
        return (rag, try await rag.ask("Who rescued the fishermen of the Silver Herring?"))
    }

    /// The scored answer style: the answer is one span of the snippet read, of at least two words, opening at a word
    /// and ending before one; the candidates it was chosen from all have that shape.
    func testAScoredAnswerIsAWholeWordSpanOfTheSnippetRead() async throws {
        let (rag, result) = try await askReadingOneSnippet(answerStyle: .scored)
        let snippet = try XCTUnwrap(result.snippets?.first)
        XCTAssertTrue(snippet.contains(result.answer), "'\(result.answer)' is not copied from the snippet read: '\(snippet)'")
        XCTAssertGreaterThanOrEqual(result.answer.split(whereSeparator: \.isWhitespace).count, ScoredSpanAnswer.minimumWords)

        let tokenizer = await rag.memoryModel.lm.tokenizer
        let source = tokenizer.encode(snippet, addSpecialTokens: false)
        let allowed = ScoredSpanAnswer.candidates([source], tokenizer: tokenizer, maxTokens: ScoredSpanAnswer.maximumTokens)
            .flatMap { candidate in
                candidate.endsAt.map { tokenizer.decode(Array(candidate.ids[..<$0]), skipSpecialTokens: true)
                    .trimmingCharacters(in: .whitespacesAndNewlines) }
            }
        XCTAssertTrue(allowed.contains(result.answer), "'\(result.answer)' is not one of the scored spans")
        let candidates = ScoredSpanAnswer.candidates([source], tokenizer: tokenizer, maxTokens: 6)
        XCTAssertFalse(candidates.isEmpty)
        for candidate in candidates {
            XCTAssertLessThanOrEqual(candidate.ids.count, 6)
            let text = tokenizer.decode(candidate.ids, skipSpecialTokens: true)
            let first = try XCTUnwrap(text.trimmingCharacters(in: .whitespaces).unicodeScalars.first)
            XCTAssertTrue(CharacterSet.alphanumerics.contains(first), "a span opens at '\(text)'")
            for length in candidate.endsAt {
                let span = tokenizer.decode(Array(candidate.ids[..<length]), skipSpecialTokens: true)
                let rest = snippet[snippet.range(of: span)!.upperBound...]
                // Ends at the snippet's end, or before a space or punctuation: never inside a word.
                XCTAssertFalse(rest.first.map { $0.isLetter || $0.isNumber } ?? false, "'\(span)' ends inside a word")
            }
        }
    }

    /// Sentence search: a query that is one snippet's text finds that snippet's passage first in the snippet list
    /// (cosine 1), and the fused ranking of `.sentences` holds it.
    func testSentenceSearchFindsThePassageOfAQuotedSentence() async throws {
        let rag = try pipeline()
        try await rag.memorize([Self.lighthouse, Self.bees, Self.orchard].joined(separator: "\n\n"), name: "stories",
                               cacheDir: try temporaryDirectory().appendingPathComponent("cache"))
        // Every passage, through the question's own search at full depth.
        let passages = try await rag.rankPassages(for: [Clue(kind: .query, text: "stories", document: nil)], depth: 100)
        XCTAssertGreaterThan(passages.count, 2)
        let target = passages.sorted { $0.chunkId < $1.chunkId }[passages.count / 2]
        let embedder = await rag.embedder
        let sentence = EvidenceSnippets.split(target.text, tokenizer: embedder.tokenizer)[1]
        let found = try await rag.searchSnippets(try embedder.embed([sentence]), depth: 2)
        XCTAssertEqual(found[0].first?.id, target.chunkId)
        XCTAssertEqual(found[0].first?.score ?? 0, 1, accuracy: 1e-4)
        let ranked = try await rag.rankPassages(for: [Clue(kind: .query, text: sentence, document: nil)], search: .sentences)
        XCTAssertTrue(ranked.contains { $0.chunkId == target.chunkId })
    }

    func testDocumentsMemorizedSeparatelyAreQueriedTogetherAndAddingLeavesOthersUntouched() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("cache")
        let rag = try pipeline()
        try await rag.memorize(Self.lighthouse, name: "lighthouse", cacheDir: dir)
        try await rag.addDocument(Self.bees, name: "bees")
        let result = try await rag.ask("What did Marta keep in the green ledger, and why did Tomas drill holes in the hives?")
        XCTAssertEqual(Set(result.evidence.map(\.document)), ["lighthouse", "bees"])

        let before = try fileHashes(dir, ["memory.safetensors", "memory-1.safetensors"])
        let chunksBefore = try ChunkFile.read(dir.appendingPathComponent("chunks.jsonl"))
        try await rag.addDocument(Self.orchard, name: "orchard")
        XCTAssertEqual(try fileHashes(dir, ["memory.safetensors", "memory-1.safetensors"]), before)
        let chunksAfter = try ChunkFile.read(dir.appendingPathComponent("chunks.jsonl"))
        XCTAssertEqual(Array(chunksAfter.prefix(chunksBefore.count)), chunksBefore)
        XCTAssertEqual(Set(chunksAfter.map(\.doc)), ["lighthouse", "bees", "orchard"])

        let reloaded = try pipeline()
        try await reloaded.load(cacheDir: dir)
        let documents = await reloaded.documents
        XCTAssertEqual(documents, ["lighthouse", "bees", "orchard"])
        await XCTAssertThrowsErrorAsync(try await reloaded.addDocument(Self.orchard, name: "orchard"))
    }

    func testAFailedMemorizeLeavesTheOldCache() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("cache")
        let rag = try pipeline()
        try await rag.memorize(Self.orchard, name: "orchard", cacheDir: dir)
        let before = try fileHashes(dir, ["manifest.json", "memory.safetensors", "chunks.jsonl", "index.faiss"])
        // The second document is empty: the run fails after memorizing the first one.
        await XCTAssertThrowsErrorAsync(
            try await rag.memorize(documents: [("bees", Self.bees), ("empty", "  \n")], cacheDir: dir))
        XCTAssertEqual(try fileHashes(dir, ["manifest.json", "memory.safetensors", "chunks.jsonl", "index.faiss"]),
                       before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path)
        XCTAssertEqual(leftovers, ["cache"])
    }

    func testCorruptAndForeignCachesAreRefused() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("cache")
        let rag = try pipeline()
        try await rag.memorize(Self.orchard, name: "orchard", cacheDir: dir)

        func expectLoadError(_ fragment: String, file: StaticString = #filePath, line: UInt = #line) async {
            do {
                try await pipeline().load(cacheDir: dir)
                XCTFail("expected an error containing '\(fragment)'", file: file, line: line)
            } catch {
                XCTAssertTrue(error.localizedDescription.contains(fragment), error.localizedDescription,
                              file: file, line: line)
            }
        }
        let manifestURL = dir.appendingPathComponent("manifest.json")
        let manifest = try Data(contentsOf: manifestURL)
        // Another memory model.
        var object = try JSONSerialization.jsonObject(with: manifest) as! [String: Any]
        var model = object["memory_model"] as! [String: Any]
        model["fingerprint"] = "0123456789abcdef"
        object["memory_model"] = model
        try JSONSerialization.data(withJSONObject: object).write(to: manifestURL)
        await expectLoadError("made for something else")
        // Garbage manifest.
        try Data("{\"format\": 3".utf8).write(to: manifestURL)
        await expectLoadError("manifest.json")
        // A memory file outside the cache dir, by "..", by an absolute path, or by a symlink leading out.
        let outside = dir.deletingLastPathComponent().appendingPathComponent("outside.safetensors")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("memory.safetensors"), to: outside)
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("link.safetensors"), withDestinationURL: outside)
        for (name, reason) in [("../outside.safetensors", "climbs out"), (outside.path, "absolute path"),
                               ("link.safetensors", "is a symlink to")] {
            object = try JSONSerialization.jsonObject(with: manifest) as! [String: Any]
            var documents = object["documents"] as! [[String: Any]]
            documents[0]["memory_file"] = name
            object["documents"] = documents
            try JSONSerialization.data(withJSONObject: object).write(to: manifestURL)
            await expectLoadError("memory_file \"\(name)\" is not a file inside")
            await expectLoadError(reason)
        }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("link.safetensors"))
        try manifest.write(to: manifestURL)
        // Truncated index.
        let indexURL = dir.appendingPathComponent("index.faiss")
        let index = try Data(contentsOf: indexURL)
        try index.prefix(index.count / 2).write(to: indexURL)
        await expectLoadError("index.faiss")
        try index.write(to: indexURL)
        // A chunk line damaged.
        let chunksURL = dir.appendingPathComponent("chunks.jsonl")
        try Data("{\"id\": 0}\n".utf8).write(to: chunksURL)
        await expectLoadError("chunks.jsonl")
        // Not a cache dir at all.
        do {
            try await pipeline().load(cacheDir: dir.deletingLastPathComponent())
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("no manifest.json"), error.localizedDescription)
        }
    }

    func testBeaconMemoryIsCompressedAndRoundTripsThroughTheCache() async throws {
        let dir = try temporaryDirectory().appendingPathComponent("cache")
        var configuration = try configuration(mode: .beacon)
        configuration.ratio = 8
        let models = try MemoRAGModels(configuration: configuration)
        let text = Array(repeating: [Self.lighthouse, Self.bees, Self.orchard].joined(separator: "\n\n"), count: 3)
            .joined(separator: "\n\n")
        let rag = MemoRAG(models: models)
        let report = try await rag.memorize(text, name: "stories", cacheDir: dir)
        XCTAssertEqual(report.ratio, 8)
        // Full windows of 1024 raw tokens leave 128 beacons each; the last, partial window keeps its raw tokens
        // with one beacon interleaved after every 8 of them.
        let (windows, rest) = report.tokens.quotientAndRemainder(dividingBy: 1024)
        XCTAssertGreaterThan(windows, 0)
        XCTAssertEqual(report.memoryEntries, windows * 128 + rest + rest / 8)
        let first = try await rag.ask("What did Tomas name the queens after?")
        let reloaded = MemoRAG(models: models)
        try await reloaded.load(cacheDir: dir)
        let second = try await reloaded.ask("What did Tomas name the queens after?")
        XCTAssertEqual(second, AskResult(query: first.query, task: first.task, answer: first.answer, clues: first.clues,
                                         evidence: first.evidence, droppedEvidence: first.droppedEvidence,
                                         timings: second.timings, snippets: first.snippets,
                                         questionLikelihoods: first.questionLikelihoods))
        // The next question continues from the memory that read the clue prompts' common opening during the first
        // (recall and rewrite ran side by side, one priming it while the other waited).
        let third = try await reloaded.ask("What did Tomas name the queens after?")
        XCTAssertEqual(third.clues, second.clues)
        XCTAssertEqual(third.answer, second.answer)
        // A cache of another mode is refused by a pipeline set up for beacons, and the other way round.
        do {
            try await pipeline(mode: .longllm).load(cacheDir: dir)
            XCTFail("expected a mode mismatch")
        } catch {
            XCTAssertTrue(error.localizedDescription.contains("made for something else"), error.localizedDescription)
        }
    }

    /// Memory attention: the passages ranked by where the memory model looks while reading the question join the
    /// fusion. Every entry of the memory stands for tokens of the document, so every passage gets a rank, once; the
    /// evaluation compares the list alone; fusions without ranks refuse it.
    func testMemoryAttentionRanksThePassagesAndJoinsTheFusion() async throws {
        var configuration = try configuration(mode: .beacon)
        configuration.ratio = 2
        configuration.memoryAttention = MemoryAttentionSettings(layers: 0...1, weight: 1)
        configuration.rerankDepth = 0
        let models = try MemoRAGModels(configuration: configuration)
        let rag = MemoRAG(models: models)
        let text = [Self.lighthouse, Self.bees].joined(separator: "\n\n")
        try await rag.memorize(text, name: "stories", cacheDir: try temporaryDirectory().appendingPathComponent("cache"))
        let manifest = await rag.manifest
        let chunkCount = try XCTUnwrap(manifest).chunkCount
        XCTAssertGreaterThan(chunkCount, 2)
        let result = try await rag.ask("Who rescued the fishermen of the Silver Herring?")
        let ranked = try XCTUnwrap(result.memoryAttention)
        XCTAssertEqual(ranked.sorted(), Array(0..<chunkCount), "each passage ranked once")
        // The neutral question's attention and the entry map are kept: the same question ranks the same way.
        let again = try await rag.ask("Who rescued the fishermen of the Silver Herring?")
        XCTAssertEqual(again.memoryAttention, ranked)
        let compared = try await rag.compareRetrieval(result, gold: [Self.lighthouse])
        XCTAssertNotNil(compared.recall[.attention])
        XCTAssertEqual(compared.curves[.attention]?.count, RetrievalComparison.depths.count)

        // Refused, by name: layers the model does not have, a memory without beacons, a fusion without ranks, and
        // re-ranking, which replaces the fusion the list would join.
        var reranking = configuration
        reranking.rerankDepth = 4
        var pastTheLast = configuration
        pastTheLast.memoryAttention = MemoryAttentionSettings(layers: 0...99)
        var uncompressed = try self.configuration(mode: .longllm)
        uncompressed.memoryAttention = MemoryAttentionSettings(layers: 0...1)
        uncompressed.rerankDepth = 0
        var maxScore = configuration
        maxScore.fusion = .maxScore
        for (refused, message) in [(pastTheLast, "has layers 0-"), (uncompressed, "reads beacon memories"),
                                   (maxScore, "reciprocal rank fusion"), (reranking, "re-ranking replaces")] {
            let refusing = MemoRAG(models: try MemoRAGModels(configuration: refused))
            try await refusing.memorize(text, name: "stories", cacheDir: try temporaryDirectory().appendingPathComponent("cache"))
            do {
                _ = try await refusing.ask("Who rescued the fishermen of the Silver Herring?")
                XCTFail("expected a refusal saying '\(message)'")
            } catch {
                XCTAssertTrue(error.localizedDescription.contains(message), error.localizedDescription)
            }
        }
    }

    func testAskWithoutMemoryAndEmptyQueryAreClearErrors() async throws {
        let rag = try pipeline()
        do {
            _ = try await rag.ask("anything")
            XCTFail("expected noMemory")
        } catch let error as MemoRAGError {
            XCTAssertEqual(error, .noMemory)
        }
    }

    /// Tasks read a beacon memory in bfloat16 where the decoding kernel runs over a float32 model, and in the
    /// compute dtype otherwise or when the environment asks for float32 reads.
    func testTasksReadTheMemoryInBFloat16WhereTheDecodingKernelRuns() {
        let kernel = Functional.decodeAttentionKernelAvailable
        XCTAssertEqual(BeaconContextMemory.attendDType(for: .float32, environment: [:]), kernel ? .bfloat16 : nil)
        XCTAssertNil(BeaconContextMemory.attendDType(for: .float32, environment: ["MEMORAG_MEMORY_READS": "fp32"]))
        XCTAssertNil(BeaconContextMemory.attendDType(for: .bfloat16, environment: [:]))
    }

    private func fileHashes(_ dir: URL, _ names: [String]) throws -> [String] {
        try names.map { sha256Hex(try Data(contentsOf: dir.appendingPathComponent($0))) }
    }
}

func XCTAssertThrowsErrorAsync<T>(_ expression: @autoclosure () async throws -> T, file: StaticString = #filePath,
                                  line: UInt = #line) async {
    do {
        _ = try await expression()
        XCTFail("expected an error", file: file, line: line)
    } catch {}
}
