import Foundation
import Torch

/// Writes a GGUF model as an HF-layout directory: config.json, model.safetensors (dequantised to `dtype`),
/// generation_config.json, tokenizer.json and tokenizer_config.json (with the chat template), so that transformers'
/// `from_pretrained` and `LanguageModel.load` take the directory as they take the GGUF.
public enum GGUFConversion {
    public struct Report: Sendable {
        public var tensors: Int
        public var parameters: Int
        public var files: [String]
    }

    /// `tokenizerFiles` gives the tokenizer files by name (default: `tokenizerFiles(of:)`); it runs before anything
    /// is written, so a tokenizer that cannot be converted fails the conversion without leaving half a directory.
    public static func convert(gguf url: URL, to directory: URL, dtype: DType = .float32,
                               tokenizerFiles: (GGUFFile) throws -> [String: Data] = GGUFConversion.tokenizerFiles(of:))
        throws -> Report {
        guard dtype.isFloatingPoint else { throw ModelError.invalidInput("convert needs a floating dtype, got \(dtype)") }
        let file = try GGUFFile(url: url)
        let config = try DecoderLM.decoderConfig(of: file)
        let tokenizerData = try tokenizerFiles(file)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        var tensors: [String: Tensor] = [:]
        var parameters = 0
        for tensor in try file.hfTensors() {
            let values = try file.dequantize(tensor)
            parameters += values.count
            let t = try Tensor(values, shape: tensor.shape)
            tensors[tensor.name] = dtype == .float32 ? t : try t.to(dtype)
        }
        var written: [String] = []
        try Safetensors.save(tensors, metadata: ["format": "pt", "source": url.lastPathComponent],
                             to: directory.appendingPathComponent("model.safetensors"))
        written.append("model.safetensors")

        var configObject = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        configObject["architectures"] = [architectureName(config.modelType)]
        configObject["torch_dtype"] = dtype == .bfloat16 ? "bfloat16" : dtype == .float16 ? "float16" : "float32"
        try writeJSON(configObject, to: directory.appendingPathComponent("config.json"))
        written.append("config.json")

        var generation: [String: Any] = ["do_sample": false]
        if let bos = config.bosTokenId { generation["bos_token_id"] = bos }
        if !config.eosTokenIds.isEmpty { generation["eos_token_id"] = config.eosTokenIds.count == 1 ? config.eosTokenIds[0] : config.eosTokenIds }
        try writeJSON(generation, to: directory.appendingPathComponent("generation_config.json"))
        written.append("generation_config.json")

        for (name, data) in tokenizerData.sorted(by: { $0.key < $1.key }) {
            try data.write(to: directory.appendingPathComponent(name), options: .atomic)
            written.append(name)
        }
        return Report(tensors: tensors.count, parameters: parameters, files: written)
    }

    public static func architectureName(_ modelType: String) -> String {
        switch modelType {
        case "qwen2": return "Qwen2ForCausalLM"
        case "mistral": return "MistralForCausalLM"
        default: return "LlamaForCausalLM"
        }
    }

    static func writeJSON(_ object: Any, to url: URL) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: url, options: .atomic)
    }
}
