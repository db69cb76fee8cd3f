extension FaultCase {
    /// Hostile inputs met by the models side of the CLI (config.json, GGUF, safetensors, tokenizers, generation).
    static let models: [FaultCase] = configs + weights + tokenizers + prompts + sampling

    /// Decoder fixtures (`Fixtures/decoders/llama`: a tiny Llama, 256 positions, no tokenizer) with one edit: the
    /// config is read before anything else, so these fail before a tokenizer is needed.
    private static let llama = "$FIXTURES/ModelsTests/Fixtures/decoders/llama"
    private static let qwen2 = "$FIXTURES/ModelsTests/Fixtures/decoders/qwen2"
    private static let beacon = "$FIXTURES/ModelsTests/Fixtures/beacon/llama"
    private static let gguf = "$FIXTURES/ModelsTests/Fixtures/gguf/tiny_llama.gguf"

    /// A script line copying a fixture dir to `m/` and replacing `"key": old` by `"key": new` in its config.json
    /// (one entry a line, as Python's json.dump writes it). Plain POSIX tools (no `sed -i`), for BSD userlands too.
    private static func editedConfig(_ key: String, from old: String, to new: String, fixture: String = llama) -> String {
        #"cp -r "\#(fixture)" m && sed -E 's/"\#(key)": \#(old)(,?)$/"\#(key)": \#(new)\1/' "\#(fixture)/config.json" "#
            + #"> m/config.json && grep -q '"\#(key)": \#(new)' m/config.json"#
    }

    /// A script line overwriting the value after GGUF metadata key `key` (its 4-byte type tag, then the value) in
    /// bad.gguf with the little-endian bytes `bytes` (printf escapes).
    private static func patchedGGUF(_ key: String, _ bytes: String) -> String {
        #"cp "\#(gguf)" bad.gguf && at=$(grep -obUa '\#(key)' bad.gguf | head -1 | cut -d: -f1) && "#
            + #"printf '\#(bytes)' | dd of=bad.gguf bs=1 seek=$((at + \#(key.utf8.count) + 4)) conv=notrunc 2>/dev/null"#
    }

    /// A tokenizer.json (WordPiece, whitespace-split) whose words t0 … t(N−1) are the ids of a fixture's
    /// vocabulary of `size`, written into `dir` (the fixtures come without a tokenizer).
    private static func idTokenizer(_ dir: String, size: Int) -> String {
        #"{ printf '{"model": {"type": "WordPiece", "unk_token": "t0", "vocab": {'; for i in $(seq 0 \#(size - 1)); do "#
            + #"printf '"t%d": %d' $i $i; [ $i -lt \#(size - 1) ] && printf ', '; done; "#
            + #"printf '}}, "pre_tokenizer": {"type": "BertPreTokenizer"}}'; } > \#(dir)/tokenizer.json"#
    }

    private static func generate(_ model: String, _ extra: [String] = []) -> [String] {
        ["generate", "--model", model, "--prompt", "hi", "--max-new-tokens", "2"] + extra
    }

    static let configs: [FaultCase] = [
        FaultCase(name: "gguf-truncated",
                  make: #"head -c 1000 "$FIXTURES/ModelsTests/Fixtures/gguf/tiny_llama.gguf" > bad.gguf"#,
                  arguments: ["generate", "--model", "$CASE/bad.gguf", "--prompt", "hi", "--max-new-tokens", "1"],
                  expectedError: "bad.gguf"),
        // Was a division-by-zero trap (head_dim = hidden_size / num_attention_heads).
        FaultCase(name: "config-zero-heads", make: editedConfig("num_attention_heads", from: "4", to: "0"),
                  arguments: generate("$CASE/m"), expectedError: "config.json: num_attention_heads must be positive"),
        // Was "not valid JSON".
        FaultCase(name: "config-fractional-size", make: editedConfig("hidden_size", from: "64", to: "64.5"),
                  arguments: generate("$CASE/m"), expectedError: "config.json: hidden_size must be an integer"),
        FaultCase(name: "config-heads-not-dividing", make: editedConfig("num_key_value_heads", from: "2", to: "3"),
                  arguments: generate("$CASE/m"), expectedError: "not a multiple of num_key_value_heads 3"),
        // Was an allocation of 10⁹ layers until the machine ran out.
        FaultCase(name: "config-billion-layers", make: editedConfig("num_hidden_layers", from: "2", to: "1000000000"),
                  arguments: generate("$CASE/m"), expectedError: "config.json: num_hidden_layers 1000000000 is beyond"),
        FaultCase(name: "config-layers-beyond-weights", make: editedConfig("num_hidden_layers", from: "2", to: "900"),
                  arguments: generate("$CASE/m"), expectedError: "num_hidden_layers is 900 but the weights hold 2 layers"),
        FaultCase(name: "config-vocab-beyond-weights", make: editedConfig("vocab_size", from: "512", to: "4000000"),
                  arguments: generate("$CASE/m"), expectedError: "model.embed_tokens.weight has shape [512, 64]"),
        // Was "at 'beacon_window'" whatever the key.
        FaultCase(name: "beacon-config-names-its-key",
                  make: editedConfig("beacon_stride", from: "16", to: "8", fixture: beacon),
                  arguments: generate("$CASE/m"), expectedError: "(interleaved beacons) at 'beacon_stride'"),
        // Was an allocation of 10⁹ layers.
        FaultCase(name: "gguf-billion-blocks", make: patchedGGUF("llama.block_count", #"\x00\xca\x9a\x3b"#),
                  arguments: generate("$CASE/bad.gguf"), expectedError: "num_hidden_layers 1000000000 is beyond"),
        // Was a JSON writing error.
        FaultCase(name: "gguf-nan-rope-base", make: patchedGGUF("llama.rope.freq_base", #"\x00\x00\xc0\x7f"#),
                  arguments: generate("$CASE/bad.gguf"), expectedError: "'llama.rope.freq_base': nan is not a finite number"),
    ]

    /// NaN weights: fp32 printed "!!", int8 failed inside libtorch (ChooseQuantizationParams).
    private static let nanWeights = #"cp -r "\#(llama)" m && n=$(od -An -tu8 -N8 m/model.safetensors | tr -d ' ') && "#
        + #"printf '\x00\x00\xc0\x7f' | dd of=m/model.safetensors bs=1 seek=$((8 + n)) conv=notrunc 2>/dev/null"#

    static let weights: [FaultCase] = [
        FaultCase(name: "weights-nan-fp32", make: nanWeights, arguments: generate("$CASE/m", ["--dtype", "fp32"]),
                  expectedError: "model.safetensors: tensor"),
        FaultCase(name: "weights-nan-int8", make: nanWeights, arguments: generate("$CASE/m", ["--dtype", "int8"]),
                  expectedError: "holds NaN or infinite values"),
    ]

    static let tokenizers: [FaultCase] = [
        // Was >10 GB: the id tables are as long as the largest id.
        FaultCase(name: "tokenizer-billion-id",
                  make: #"cp -r "\#(llama)" m && printf '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1000000000}, "merges": []}}' > m/tokenizer.json"#,
                  arguments: generate("$CASE/m"), expectedError: "tokenizer.json: invalid tokenizer: token id 1000000000"),
    ]

    static let prompts: [FaultCase] = [
        // Was hours of quadratic attention (here: 600 tokens into a 256-position model).
        FaultCase(name: "prompt-beyond-positions",
                  make: #"cp -r "\#(qwen2)" m && "# + idTokenizer("m", size: 512)
                      + #" && for i in $(seq 600); do printf 't5 '; done > long.txt"#,
                  arguments: ["generate", "--model", "$CASE/m", "--prompt-file", "$CASE/long.txt", "--max-new-tokens", "2"],
                  expectedError: "the prompt is 600 tokens, more than the model's 256 positions"),
        // A beacon model compresses instead, and fails only when even its compression cannot fit: 256 positions,
        // windows of 16, ratio 4 hold (256 − 16) · 4 + 16 = 976 tokens.
        FaultCase(name: "prompt-beyond-beacon-capacity",
                  make: #"cp -r "\#(beacon)" m && "# + idTokenizer("m", size: 96) + #" && for i in $(seq 3000); do printf 't5 '; done > long.txt"#,
                  arguments: ["generate", "--model", "$CASE/m", "--prompt-file", "$CASE/long.txt", "--max-new-tokens", "2"],
                  expectedError: "even compressed 4× this beacon model holds at most 976"),
    ]

    static let sampling: [FaultCase] = [
        FaultCase(name: "sampling-negative-temperature", make: "true",
                  arguments: generate(gguf, ["--temperature", "-1"]), expectedError: "temperature must be a finite number >= 0"),
        FaultCase(name: "sampling-nan-temperature", make: "true",
                  arguments: generate(gguf, ["--temperature", "nan"]), expectedError: "got nan"),
        FaultCase(name: "sampling-negative-top-k", make: "true",
                  arguments: generate(gguf, ["--top-k", "-5"]), expectedError: "top-k must be >= 0"),
        FaultCase(name: "sampling-negative-top-p", make: "true",
                  arguments: generate(gguf, ["--top-p", "-1"]), expectedError: "top-p must be in (0, 1]"),
        FaultCase(name: "sampling-negative-max-new-tokens", make: "true",
                  arguments: ["generate", "--model", gguf, "--prompt", "hi", "--max-new-tokens", "-1"],
                  expectedError: "max new tokens must not be negative"),
        FaultCase(name: "ask-negative-max-new-tokens", make: "mkdir cache",
                  arguments: ["ask", "--cache", "$CASE/cache", "why?", "--max-new-tokens", "-1"],
                  expectedError: "--max-new-tokens must not be negative"),
    ]
}
