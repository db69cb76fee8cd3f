import ArgumentParser
import Foundation
import MemoRAG
import Models
import Torch

/// Options every pipeline command shares: which models, dtype, threads.
struct PipelineOptions: ParsableArguments {
    @Option(help: "Memory model: an HF-layout dir or a .gguf (default: the cache's own for ask/eval; else the shipped default).")
    var model: String?
    @Option(help: "Retriever: a sentence-transformers dir (default: all-MiniLM-L6-v2 installed by setup).")
    var retriever: String?
    @Option(help: "Compute dtype: fp32, bf16, or int8 (fp32 activations over int8 weights; default: int8 where the CPU has VNNI, else chosen from the CPU).")
    var dtype: String?
    @Option(help: "Intra-op threads (default: all cores).") var threads: Int?
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Most tokens of retrieved passages given to the answer generator, or 'all' for what its context holds (default: 1024 for a local generator, all for an API).")
    var evidenceTokens: EvidenceTokens?
    @Option(help: "A prompt-set JSON file replacing the built-in prompts (same keys as Resources/prompts/en.json).")
    var prompts: String?
    @Option(help: "Passages retrieved per clue and for the question (default: 3, as MemoRAG).") var hits: Int?
    @Option(help: "How the question and the clues search the passages: rrf (their lists merged by reciprocal rank fusion, the default), max-score (MemoRAG's: best raw cosine), or expansion (one search with their weighted mean embedding).")
    var fusion: EvidenceFusion?
    @Option(help: "Weight of the question against each clue (weight 1) in rrf fusion and in expansion (default 3).")
    var questionWeight: Double?
    @Option(help: "Clues written before retrieval, comma-separated: span, surrogate, answer (default: surrogate; MemoRAG writes span,surrogate).")
    var clues: String?
    @Option(help: "Passage search: dense (the default), hybrid (dense fused with BM25 per query) or sentences (dense fused with the passages of the closest snippets).")
    var search: PassageSearch?
    @Option(help: "How a local generator answers: copied (one span copied from the evidence, the default), scored (the span of the evidence the generator finds likeliest as its whole answer) or generated (free text after the answer prompt, as MemoRAG).")
    var answerStyle: AnswerStyle?
    @Option(help: "How the memory writes span clues: generated (free lines, as MemoRAG) or copied (each line a span copied from the memorized document).")
    var spanClueStyle: AnswerStyle?
    @Option(help: "The generator reads only this many snippets (a sentence or two each) of the retrieved passages, those closest to the question, or 'all' for the passages whole (default: 2 for a local generator, all for an API).")
    var evidenceSnippets: EvidenceSnippetCount?
    @Option(help: "Adds the passages the memory model attends to while reading the question to the rrf fusion: the layers summed, FIRST-LAST or one layer (beacon memories; off by default).")
    var memoryAttention: String?
    @Option(help: "Weight of the memory-attention list in rrf fusion (default 1).")
    var attentionWeight: Double?
    @Option(help: "Re-rank the question's first N passages and the clues' new ones by how likely the memory model finds the question after each (UPR), fused with the retriever's order (default 20; 0: off, the question's and the clues' lists fused instead).")
    var rerank: Int?

    /// What the benches compare with the peer, which writes free answers from the passages whole and does not
    /// re-rank: `configuration` set to do the same work, token for token, unless --answer-style, --evidence-snippets
    /// or --rerank says otherwise.
    func answeringAsThePeer(_ configuration: inout MemoRAGConfiguration) {
        if answerStyle == nil { configuration.answerStyle = .generated }
        if evidenceSnippets == nil { configuration.evidenceSnippets = .max }
        if rerank == nil { configuration.rerankDepth = 0 }
    }

    /// The configuration for a new memory, or for `manifest`'s when one is given (its models are the defaults).
    func configuration(manifest: CacheManifest? = nil) throws -> MemoRAGConfiguration {
        if let threads { try LibTorch.setNumThreads(threads) }
        let modelPath = model ?? manifest?.memoryModel.source ?? ModelPaths.defaultMemoryModel.path
        let retrieverPath = retriever ?? manifest?.retriever.source ?? ModelPaths.defaultRetriever.path
        var configuration = MemoRAGConfiguration(memoryModel: URL(fileURLWithPath: modelPath),
                                                 retriever: URL(fileURLWithPath: retrieverPath))
        // nil leaves the choice to the CPU (`InferencePrecision.choose`); the command announces what the loaded
        // models run in (`announcePrecision`).
        let precision = try dtype.map(InferencePrecision.parse)
        configuration.device = try deviceOption.choice()
        // The memory model's prepared weights (MEMORAG_PREPARED_CACHE=0 turns them off).
        configuration.preparedWeights = PreparedWeightsCache.fromEnvironment()
        configuration.dtype = precision?.dtype
        configuration.int8Weights = precision?.int8Weights
        configuration.promptsFile = prompts.map { URL(fileURLWithPath: $0) }
        configuration.evidenceTokens = evidenceTokens?.limit
        if let answerStyle { configuration.answerStyle = answerStyle }
        if let spanClueStyle {
            guard spanClueStyle != .scored else { throw ValidationError("--span-clue-style is generated or copied, got 'scored'") }
            configuration.spanClueStyle = spanClueStyle
        }
        if let evidenceSnippets {
            guard let count = evidenceSnippets.count else {
                throw ValidationError("--evidence-snippets takes a count of at least 1 or 'all', got '\(evidenceSnippets.argument)'")
            }
            configuration.evidenceSnippets = count
        }
        if let memoryAttention {
            let bounds = memoryAttention.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(bounds.count), let first = bounds.first!, let last = bounds.last!, first >= 0, first <= last else {
                throw ValidationError("--memory-attention takes a layer or a range FIRST-LAST of layers, got '\(memoryAttention)'")
            }
            configuration.memoryAttention = MemoryAttentionSettings(layers: first...last)
        }
        if let attentionWeight {
            guard attentionWeight.isFinite, attentionWeight >= 0 else {
                throw ValidationError("--attention-weight must be a finite number ≥ 0, got \(attentionWeight)")
            }
            guard configuration.memoryAttention != nil else { throw ValidationError("--attention-weight needs --memory-attention") }
            configuration.memoryAttention?.weight = attentionWeight
        }
        if let rerank {
            guard rerank >= 0 else { throw ValidationError("--rerank must be 0 (off) or a passage count, got \(rerank)") }
            configuration.rerankDepth = rerank
        }
        guard configuration.memoryAttention == nil || configuration.rerankDepth == 0 else {
            throw ValidationError("--memory-attention needs --rerank 0: re-ranking replaces the fusion its list joins")
        }
        if let hits {
            guard hits >= 1 else { throw ValidationError("--hits must be at least 1, got \(hits)") }
            configuration.hits = hits
        }
        if let questionWeight {
            guard questionWeight.isFinite, questionWeight >= 0 else {
                throw ValidationError("--question-weight must be a finite number ≥ 0, got \(questionWeight)")
            }
            configuration.queryWeight = questionWeight
        }
        if let clues {
            let names: [String: Clue.Kind] = ["span": .span, "surrogate": .surrogate, "answer": .draftAnswer]
            configuration.clueKinds = try clues.split(separator: ",").map { name in
                let trimmed = name.trimmingCharacters(in: .whitespaces)
                guard let kind = names[trimmed] else {
                    throw ValidationError("--clues: unknown clue kind '\(trimmed)' (expected span, surrogate or answer)")
                }
                return kind
            }
            guard !configuration.clueKinds.isEmpty else { throw ValidationError("--clues names no clue kind") }
        }
        if let fusion { configuration.fusion = fusion }
        if let search { configuration.search = search }
        if let manifest {
            configuration.mode = manifest.mode
            configuration.language = manifest.language
            configuration.chunkTokens = manifest.chunkTokens
            configuration.indexFactory = manifest.indexFactory
        }
        return configuration
    }
}

/// Tells on stderr what the models compute in and where, so a default the machine picked (int8 weights, a GPU) is
/// never silent.
func announcePrecision(_ models: MemoRAGModels) {
    let precision = models.precision
    let detail = precision.int8Weights ? "int8 weights, float32 activations; --dtype fp32 for full precision"
                                       : "\(precision.dtype) weights and activations"
    let device = deviceLabel(models.device, choice: models.configuration.device)
    FileHandle.standardError.write(Data("memorag: models run in \(precision) (\(detail)) on \(device)\n".utf8))
    for notice in models.memoryModelLoad.notices + (models.generatorLoad?.notices ?? []) {
        FileHandle.standardError.write(Data("memorag: \(notice)\n".utf8))
    }
}

/// `--evidence-tokens`: a positive token count, or `all` (what the generator's context holds).
struct EvidenceTokens: ExpressibleByArgument {
    let limit: Int

    init?(argument: String) {
        if argument == "all" {
            limit = .max
        } else if let count = Int(argument), count > 0 {
            limit = count
        } else {
            return nil
        }
    }
}

/// `--evidence-snippets`: a positive count, or `all` (the passages whole). Kept as given so a bad value is refused
/// with the option's own message.
struct EvidenceSnippetCount: ExpressibleByArgument {
    let argument: String
    var count: Int? {
        if argument == "all" { return .max }
        guard let n = Int(argument), n >= 1 else { return nil }
        return n
    }

    init?(argument: String) { self.argument = argument }
}

/// Reads a cache dir's manifest for commands that continue from it.
func readManifest(_ cacheDir: String) throws -> CacheManifest {
    try CacheManifest.read(from: URL(fileURLWithPath: cacheDir))
}

extension EvidenceFusion: ExpressibleByArgument {}
extension PassageSearch: ExpressibleByArgument {}
extension AnswerStyle: ExpressibleByArgument {}
