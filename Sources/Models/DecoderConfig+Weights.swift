extension DecoderConfig {
    /// Checks the sizes that decide what a model allocates against the tensors a checkpoint actually holds (HF names,
    /// shapes from the file's header), before the model is built: a `num_hidden_layers` or `vocab_size` that the
    /// weights do not have is an error naming `source`, not an allocation of the machine's memory. Every layer has
    /// layer 0's shapes, so the embedding, layer 0 and the layer count bound all the model allocates.
    func check(againstShapes shapes: [String: [Int]], source: String) throws {
        func fail(_ why: String) -> ModelError { .incompatibleWeights(path: source, reason: why) }
        let layers = Set(shapes.keys.compactMap(Self.layerIndex)).count
        guard numHiddenLayers <= layers else {
            throw fail("num_hidden_layers is \(numHiddenLayers) but the weights hold \(layers) layers")
        }
        let expected: [(String, [Int])] = [
            ("model.embed_tokens.weight", [vocabSize, hiddenSize]),
            ("model.layers.0.self_attn.q_proj.weight", [numAttentionHeads * headDim, hiddenSize]),
            ("model.layers.0.self_attn.k_proj.weight", [numKeyValueHeads * headDim, hiddenSize]),
            ("model.layers.0.mlp.up_proj.weight", [intermediateSize, hiddenSize]),
        ]
        for (name, shape) in expected {
            guard let found = shapes[name] else { throw fail("no tensor \(name)") }
            guard found == shape else {
                throw fail("\(name) has shape \(found) but the config implies \(shape) (vocab_size, hidden_size, "
                    + "num_attention_heads, num_key_value_heads, head_dim, intermediate_size)")
            }
        }
    }

    /// N in `model.layers.N.…`.
    private static func layerIndex(_ name: String) -> Int? {
        let prefix = "model.layers."
        guard name.hasPrefix(prefix) else { return nil }
        return Int(name.dropFirst(prefix.count).prefix { $0 != "." })
    }
}
