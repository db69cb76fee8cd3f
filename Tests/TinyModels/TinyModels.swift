import Foundation
import Models
import Tokenizers
import Torch

/// Tiny random models written at test time, so the tests of the pipeline, the server and the CLI check their
/// mechanics (memorize → cache → ask → evidence; the HTTP endpoints) on any machine, with no installed model and in
/// seconds. The weights are random and seeded: what they say is nonsense, but the same nonsense on every run.
public enum TinyModels {
    /// A memory model and a retriever in fresh directories under `root`.
    public struct Pair: Sendable {
        public let memoryModel: URL
        public let retriever: URL
    }

    /// Writes both models under `root` (created if needed).
    public static func write(to root: URL) throws -> Pair {
        let pair = Pair(memoryModel: root.appendingPathComponent("tiny-llama"),
                        retriever: root.appendingPathComponent("tiny-bert"))
        try writeMemoryModel(to: pair.memoryModel)
        try writeRetriever(to: pair.retriever)
        return pair
    }

    /// The pair, written once per test process into a temporary dir.
    public static func shared() throws -> Pair {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-tiny-models-\(getpid())")
        try? FileManager.default.removeItem(at: root)
        tinyModelsRoot = root.path
        atexit { tinyModelsRoot.map { _ = try? FileManager.default.removeItem(atPath: $0) } }  // no leftovers in /tmp
        let pair = try write(to: root)
        made = pair
        return pair
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: Pair?


    // MARK: the memory model

    /// 8,192 positions: a beacon memory's raw window (1,024) and the pipeline's reserved positions (2,048) fit.
    static let decoderConfig = """
        {"model_type": "llama", "vocab_size": 512, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
         "rope_theta": 10000, "tie_word_embeddings": false, "bos_token_id": 0, "eos_token_id": 2}
        """

    /// A random 2-layer Llama in the HF layout (config.json, model.safetensors) with a byte-level BPE tokenizer
    /// (ids 0-2 `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, then 256 bytes and merges learnt from `corpus`) and
    /// a ChatML chat template: the instruct model a memory model must be.
    public static func writeMemoryModel(to directory: URL, seed: UInt64 = 7) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try LibTorch.manualSeed(seed)
        let config = try JSONDecoder().decode(DecoderConfig.self, from: Data(decoderConfig.utf8))
        let model = try DecoderLM(config: config)
        try model.hfConfigJSON(dtype: .float32).write(to: directory.appendingPathComponent("config.json"))
        var weights = Dictionary(uniqueKeysWithValues: model.parameters().map { ($0.name, $0.tensor) })
        // The special tokens' rows of the output layer are zero, so a reply never ends at once on a stop token
        // (a random model's argmax would otherwise pick one now and then, and an empty answer checks nothing).
        guard let head = weights["lm_head.weight"] else { throw TorchError("the tiny decoder has no lm_head.weight") }
        var rows = try head.toArray(Float.self)
        for i in 0..<(specialTokens.count * config.hiddenSize) { rows[i] = 0 }
        weights["lm_head.weight"] = try Tensor(rows, shape: head.shape)
        try Safetensors.save(weights, to: directory.appendingPathComponent("model.safetensors"))

        try writeChatTokenizer(to: directory, texts: corpus)
    }

    /// A byte-level BPE tokenizer trained on `texts`, with ChatML special tokens (ids 0-2 `<|endoftext|>`,
    /// `<|im_start|>`, `<|im_end|>`) and a ChatML chat template in tokenizer_config.json, written to `directory`.
    public static func writeChatTokenizer(to directory: URL, texts: [String], vocabSize: Int = 400) throws {
        let trained = try BPETrainer.train(texts: texts, vocabSize: vocabSize, minFrequency: 2,
                                           specialTokens: specialTokens)
        try trained.write(to: directory)
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        var tokenizerConfig = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        tokenizerConfig["chat_template"] = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
            + "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
            + "{{ '<|im_start|>assistant\\n' }}{% endif %}"
        try JSONSerialization.data(withJSONObject: tokenizerConfig).write(to: configURL)
    }

    static let specialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

    /// English to learn merges from (any text still encodes, byte by byte).
    static let corpus = [
        "The lighthouse on the rock was kept by a woman for thirty years, and every evening she climbed the steps.",
        "You are given a long article. Read it and answer the question that follows about the article.",
        "The question is about the text above. Write the answer in a few words, and the evidence that supports it.",
        "Bees kept in the hives on the hills above the town found their way home, and the honey won a prize.",
        "I have read the article. Please provide your question and I will answer it from what I remember of it.",
    ]

    // MARK: the retriever

    static let bertConfig = """
        {"vocab_size": VOCAB, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 64, "max_position_embeddings": 128, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
         "hidden_act": "gelu"}
        """

    /// A random 2-layer BERT sentence embedder (mean pooling, normalised, 128 word pieces) with a WordPiece
    /// vocabulary of letters, digits and punctuation, whole and as `##` continuations, so every text tokenizes.
    public static func writeRetriever(to directory: URL, seed: UInt64 = 11) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        let symbols = "abcdefghijklmnopqrstuvwxyz0123456789".map(String.init)
        let punctuation = ".,;:!?'\"()-".map(String.init)
        let words = ["the", "and", "of", "to", "in", "was", "he", "she", "who", "what", "why"]
        let vocab = specials + symbols + symbols.map { "##" + $0 } + punctuation + words
        let ids = Dictionary(uniqueKeysWithValues: vocab.enumerated().map { ($1, $0) })
        let tokenizer: [String: Any] = [
            "model": ["type": "WordPiece", "vocab": ids, "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100],
            "normalizer": ["type": "BertNormalizer", "lowercase": true],
            "pre_tokenizer": ["type": "BertPreTokenizer"],
            "post_processor": ["type": "BertProcessing", "cls": ["[CLS]", ids["[CLS]"]!], "sep": ["[SEP]", ids["[SEP]"]!]],
            "decoder": ["type": "WordPiece"],
            "added_tokens": specials.map { ["content": $0, "id": ids[$0]!, "special": true] },
        ]
        try JSONSerialization.data(withJSONObject: tokenizer, options: .sortedKeys)
            .write(to: directory.appendingPathComponent("tokenizer.json"))
        let configText = bertConfig.replacingOccurrences(of: "VOCAB", with: "\(vocab.count)")
        try Data(configText.utf8).write(to: directory.appendingPathComponent("config.json"))
        let modules: [[String: Any]] = [
            ["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
            ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
            ["idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"],
        ]
        try JSONSerialization.data(withJSONObject: modules).write(to: directory.appendingPathComponent("modules.json"))
        let pooling = directory.appendingPathComponent("1_Pooling")
        try FileManager.default.createDirectory(at: pooling, withIntermediateDirectories: true)
        try Data(#"{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": true}"#.utf8)
            .write(to: pooling.appendingPathComponent("config.json"))
        try Data(#"{"max_seq_length": 128, "do_lower_case": true}"#.utf8)
            .write(to: directory.appendingPathComponent("sentence_bert_config.json"))

        // BertModel leaves its weights to the checkpoint: draw them here (norms at 1 and 0, as trained ones start).
        try LibTorch.manualSeed(seed)
        let config = try JSONDecoder().decode(BertConfig.self, from: Data(configText.utf8))
        var weights: [String: Tensor] = [:]
        for (name, tensor) in try BertModel(config: config).parameters().map({ ($0.name, $0.tensor) }) {
            if name.contains("LayerNorm") {
                weights[name] = name.hasSuffix("weight") ? try Tensor.ones(tensor.shape) : try Tensor.zeros(tensor.shape)
            } else {
                weights[name] = try Tensor.randn(tensor.shape) * 0.2
            }
        }
        try Safetensors.save(weights, to: directory.appendingPathComponent("model.safetensors"))
    }
}

/// The dir `TinyModels.shared()` wrote, removed when the process exits (a global: `atexit` takes no context).
nonisolated(unsafe) private var tinyModelsRoot: String?
