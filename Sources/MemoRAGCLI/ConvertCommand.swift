import ArgumentParser
import Foundation
import Models
import Torch

/// `memorag convert FILE.gguf --out DIR`: a GGUF model as an HF-layout directory.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a llama.cpp GGUF model into an HF-layout directory (config.json, model.safetensors, "
            + "generation_config.json, tokenizer.json, tokenizer_config.json with the chat template).")

    @Argument(help: "The .gguf file.") var gguf: String
    @Option(help: "Output directory.") var out: String
    @Option(help: "Weight dtype: fp32, bf16 or fp16.") var dtype = "fp32"
    @Flag(help: "Leave out tokenizer.json / tokenizer_config.json (for a GGUF whose tokenizer cannot be converted).")
    var noTokenizer = false

    func run() throws {
        let clock = ContinuousClock(), start = clock.now
        let tokenizerFiles: (GGUFFile) throws -> [String: Data] =
            noTokenizer ? { _ in [:] } : GGUFConversion.tokenizerFiles(of:)
        let report = try GGUFConversion.convert(gguf: URL(fileURLWithPath: gguf), to: URL(fileURLWithPath: out),
                                                dtype: try ComputeDType.parse(dtype), tokenizerFiles: tokenizerFiles)
        let seconds = (clock.now - start).seconds
        print("wrote \(report.files.joined(separator: ", ")) to \(out): \(report.tensors) tensors, "
              + "\(report.parameters) parameters (\(dtype)) in \(String(format: "%.1f", seconds)) s")
    }
}
