import Foundation
import Models
import Retrieval
import Torch

/// Who writes the final answer from the retrieved evidence.
public enum GeneratorChoice: Sendable, Equatable {
    /// The memory model's own LM, continuing from the memory (the reference MemoRAG's generator). Every evidence
    /// token then attends to the whole memory as well, which is most of the answer's time on a CPU.
    case memoryModel
    /// The memory model's own LM reading the evidence alone, without the memory (the default): no second model to
    /// load, and a small memory model answers better and sooner than when it continues from a book-sized memory
    /// (SmolLM2-135M on *Alice*'s 24 questions: token F1 0.052 against 0.033, ask p50 3.1 s against 5.1 s; docs/pipeline.md).
    case memoryModelOnEvidence
    /// Another local model (HF-layout dir or GGUF), without the memory.
    case localModel(URL)
    /// An OpenAI-compatible chat-completions API.
    case openAI(OpenAIConfiguration)
}

/// Everything a `MemoRAG` pipeline is built from. The defaults follow MemoRAG where it has one.
public struct MemoRAGConfiguration: Sendable {
    /// The memory model: an HF-layout dir (with beacon keys for beacon memories) or a GGUF file.
    public var memoryModel: URL
    /// A sentence-transformers dir (BERT, e.g. all-MiniLM-L6-v2).
    public var retriever: URL
    public var generator: GeneratorChoice = .memoryModelOnEvidence
    public var mode: MemoryMode = .beacon
    /// Beacon compression ratio; nil picks the smallest of 2, 4, 8, 16, 32 that fits the positions (and says so).
    public var ratio: Int?
    /// "en" or "zh"; nil guesses from the document's script.
    public var language: String?
    /// A prompt-set JSON file replacing the built-in texts.
    public var promptsFile: URL?
    /// Retrieval chunk size in retriever tokens; nil = the retriever's own limit, so no chunk is truncated.
    public var chunkTokens: Int?
    /// Passages retrieved per clue (MemoRAG: 3).
    public var hits = RankFusion.defaultDepth
    /// The clues `ask` writes before retrieving: recalled spans (`.span`), surrogate questions (`.surrogate`) and
    /// the memory's draft answer (`.draftAnswer`, which retrieves like a hypothetical document). MemoRAG writes spans
    /// and surrogates; on the tuning set (Alice, docs/pipeline.md) the shipped 135M model's spans found 15% of the
    /// gold passages alone and their lists displaced the question's own, so the default keeps surrogates only.
    public var clueKinds: [Clue.Kind] = [.surrogate]
    /// How the question's and the clues' passage lists are merged into one ranking (`EvidenceFusion`).
    public var fusion: EvidenceFusion = .reciprocalRank
    /// Weight of the question's own list in reciprocal rank fusion (each clue's list weighs 1); see
    /// `RankFusion.defaultQueryWeight` for how it was chosen.
    public var queryWeight = RankFusion.defaultQueryWeight
    /// Dense retrieval alone, or fused per query with BM25 (`PassageSearch`).
    public var search: PassageSearch = .dense
    /// faiss `index_factory` string ("Flat" = exact inner product; e.g. "HNSW32" or "IVF256,Flat" for large corpora).
    public var indexFactory = "Flat"
    /// The most tokens of retrieved passages put before the generator (best-scored first, never more than its
    /// context holds); nil takes the generator's default: `localEvidenceTokens` for a local model, what the context
    /// holds for an API (as the reference does for every generator). Reading the evidence is most of a local
    /// answer's time on a CPU, so the local cap trades recall of evidence for latency; `Int.max` fills the context.
    public var evidenceTokens: Int?
    /// The evidence cap of local generators when `evidenceTokens` is nil. On *Alice*'s 24 questions (SmolLM2-135M
    /// memory model) it kept token F1 where filling the context had it and halved the answer's time (docs/pipeline.md).
    public var localEvidenceTokens = 1024
    /// The generator reads only this many snippets (a sentence or two each) of the chosen passages, those the
    /// retriever scores closest to the question, instead of the passages (`EvidenceSnippets`); `Int.max` reads the
    /// passages whole. nil takes the generator's default: `localEvidenceSnippets` for a local model, the passages
    /// for an API. Retrieval and the passages an `AskResult` lists are the same either way.
    public var evidenceSnippets: Int?
    /// The snippets a local generator reads when `evidenceSnippets` is nil (nil: the passages). On *Alice*
    /// (2026-12-06) copied answers from the 2 closest snippets scored token F1 0.132 against 0.068 from the
    /// passages: a 135M model picks the right span more often from two sentences than from four passages.
    public var localEvidenceSnippets: Int? = 2
    /// Reply lengths.
    public var clueTokens = 128
    /// Tokens an answer may take; nil takes the answer's own default (`answerLimit`).
    public var answerTokens: Int?
    /// How a local generator answers: free text, or a span copied from the evidence (`AnswerStyle`), the default.
    /// A copied answer is always words of the text the generator read: on *Alice* (2026-12-06, capped at
    /// `copiedAnswerTokens`) it scored token F1 0.068 against 0.057 for free text, and none of its answers asked a
    /// question back or ran past 30 words, where free text asked back twice and ran on once (docs/pipeline.md).
    public var answerStyle: AnswerStyle = .copied
    /// How the memory model writes span clues: free lines, as the reference does (a small model invents sentences in
    /// the book's style), or `.copied`: each line a span copied from the memorized document, so every clue is text
    /// of the book and retrieves a real passage.
    public var spanClueStyle: AnswerStyle = .generated
    /// Adds the passages the memory model attends to while reading the question as one more list of the fusion
    /// (`MemoryAttentionSettings`; reciprocal rank fusion and beacon memories only). Off by default.
    public var memoryAttention: MemoryAttentionSettings?
    /// With N > 0, re-ranking replaces the fusion: the question's first N passages and each clue's first `hits`
    /// (`rerankCandidates`) are ordered by how likely the memory model's language model (without its memory) finds
    /// the question written after each (`PassageReranking`, UPR), merged with the retriever's order; 0 = off. Each
    /// candidate costs one forward pass over it (about 2 s of an ask for 20 on two CPU cores). Chosen on the
    /// tuning sets (2026-12-07, docs/pipeline.md): evidence recall 0.367 against 0.317 for plain RAG on *Alice*'s
    /// paraphrased questions, 0.667 against 0.639 on its first set.
    public var rerankDepth = 20
    public var summaryTokens = 512
    /// Repetition penalty of every generation (1 = off, the reference's plain greedy decoding): 135M-parameter
    /// memory models repeat one line until the limit without it.
    public var repetitionPenalty = 1.15
    /// Lite mode: tokens per gisted chunk and the gist's length.
    public var gistChunkTokens = 4096
    public var gistTokens = 256
    /// Positions kept free after a beacon memory for the task prompt, evidence and reply.
    public var reservedPositions = 2048
    /// The context size assumed for an OpenAI generator when fitting evidence.
    public var remoteContextTokens = 16_384
    /// Where the memory model and a local generator run: `.auto` (the first GPU when libtorch has CUDA and one is
    /// visible, else the CPU), the CPU, or a CUDA device. The retriever and the faiss index stay on the CPU.
    public var device: DeviceChoice = .auto
    /// Compute dtype of the models' activations and float weights.
    public var dtype: DType?
    /// Runs the memory model's (and a local generator's) linear layers on int8 weights with dynamically quantized
    /// activations (`DecoderLM.quantizeInt8`; float32 activations). Decoding reads a quarter of the weight bytes and
    /// prefill uses int8 dot products, for ~0.03 nats of held-out loss (Benchmarks/RESULTS.md). Caches made either way load in the
    /// other: the model's fingerprint is that of its float weights.
    /// With both nil the device decides (`InferencePrecision.choose(for:)`: on a CPU int8 where it has VNNI, on a GPU
    /// bf16 where it has it); setting either decides. int8 is refused on a GPU.
    public var int8Weights: Bool?
    /// Where the memory model's prepared weights are kept (`LanguageModel.loadPrepared`): the first load writes the
    /// folded, packed model there and later loads map it. Off by default; the CLI and the server use
    /// `PreparedWeightsCache.fromEnvironment()`.
    public var preparedWeights: PreparedWeightsCache = .disabled

    /// A free answer's length when `answerTokens` is nil (the reference's).
    public static let generatedAnswerTokens = 256
    /// A copied answer's length when `answerTokens` is nil: one span, which left to run copies on to a sentence's
    /// end and beyond (up to 256 tokens, 11 of *Alice*'s 24 answers ran past 30 words).
    public static let copiedAnswerTokens = 32

    /// The answer length in effect for the pipeline's answers: `answerTokens`, else the copied or the free default
    /// (an API generator always writes free text).
    public var answerLimit: Int {
        if let answerTokens { return answerTokens }
        if case .openAI = generator { return Self.generatedAnswerTokens }
        return answerStyle == .generated ? Self.generatedAnswerTokens : Self.copiedAnswerTokens
    }

    /// The reply length of `task` when the caller names none: the pipeline's answer (`answerLimit`), a summary, or
    /// the memory's own free answer (`.qa`, never copied).
    public func replyTokens(for task: TaskKind) -> Int {
        switch task {
        case .memorag: answerLimit
        case .summarize: summaryTokens
        case .qa: answerTokens ?? Self.generatedAnswerTokens
        }
    }

    public init(memoryModel: URL, retriever: URL) {
        self.memoryModel = memoryModel
        self.retriever = retriever
    }
}
