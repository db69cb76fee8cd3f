import ArgumentParser
import Foundation
import Models
import Torch
import Training

/// `memorag eval-compression`: held-out LM loss with full attention vs beacon compression at several ratios.
struct EvalCompressionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-compression",
        abstract: "Held-out next-token loss: full attention vs beacon compression at each ratio (model card table).",
        discussion: """
            Example (the shipped model's card; Persuasion is an evaluation book, never trained on):
              memorag eval-compression --model checkpoints/memorag-smollm2-135m \\
                  --text ~/.cache/memorag/corpus/eval/austen-persuasion.txt --length 3072 --segments 4
            """)

    @Option(help: "Model dir or .gguf (a plain model gets fresh, untrained beacon parameters).") var model: String
    @Option(help: "Held-out UTF-8 text.") var text: String
    @Option(help: "Tokens per segment (the last 1024-token window is read raw after the memory).") var length = 3072
    @Option(help: "Segments spread evenly over the text.") var segments = 4
    @Option(help: "Comma-separated ratios.") var ratios = "2,4,8,16,32"
    @Option(help: "Intra-op threads.") var threads: Int?
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "fp32, or int8 (fp32 activations over int8 weights: what the accuracy of --dtype int8 costs).")
    var dtype = "fp32"
    @Flag(help: "Print JSON rows.") var json = false

    func run() throws {
        if let threads { try LibTorch.setNumThreads(threads) }
        let precision = try InferencePrecision.parse(dtype)
        guard precision.dtype == .float32 else { throw ValidationError("--dtype must be fp32 or int8") }
        FileHandle.standardError.write(Data("[precision \(precision)]\n".utf8))
        let device = try deviceOption.resolve()
        try precision.check(on: device)
        let lm = try LanguageModel.load(URL(fileURLWithPath: model), dtype: .float32, device: device)
        if lm.model.config.beacon == nil { try lm.model.addBeacon(.memoryModelDefault) }
        if precision.int8Weights { try lm.model.quantizeInt8() }
        let ids = lm.tokenizer.encode(try InputText.read(text), addSpecialTokens: false)
        let wanted = try ratios.split(separator: ",").map { part -> Int in
            guard let r = Int(part.trimmingCharacters(in: .whitespaces)), r > 0 else {
                throw ValidationError("--ratios must list positive integers, got '\(ratios)'")
            }
            return r
        }
        let rows = try CompressionEvaluation.run(model: lm.model, ids: ids, length: length, segments: segments,
                                                 ratios: wanted) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        if json {
            print(try encodeJSON(rows))
            return
        }
        print("| setting | loss | perplexity |\n|---|---|---|")
        for row in rows {
            print(String(format: "| %@ | %.4f | %.2f |", row.ratio.map { "beacon r=\($0)" } ?? "full attention",
                         row.loss, row.perplexity))
        }
    }
}
