extension FaultCase {
    /// Hostile inputs met by the models side of the CLI (config.json, GGUF, safetensors, tokenizers, generation).
    static let models: [FaultCase] = [
        FaultCase(name: "gguf-truncated",
                  make: #"head -c 1000 "$FIXTURES/ModelsTests/Fixtures/gguf/tiny_llama.gguf" > bad.gguf"#,
                  arguments: ["generate", "--model", "$CASE/bad.gguf", "--prompt", "hi", "--max-new-tokens", "1"],
                  expectedError: "bad.gguf"),
    ]
}
