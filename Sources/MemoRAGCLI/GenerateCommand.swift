import ArgumentParser
import Foundation
import Models
import Tokenizers
import Torch

/// `memorag generate`: continue a prompt with a model directory or GGUF, streaming the text (or one JSON object).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate text with a model directory (HF layout) or a GGUF file.",
        discussion: """
            Examples:
              memorag generate --prompt "The capital of France is" --greedy
              memorag generate --chat --prompt "Write a haiku about tea." --temperature 0.7 --top-p 0.9
              memorag generate --model ./exported --prompt-file question.txt --json
              memorag generate --model ./beacon-model --prompt-file book.txt --ratio 8 --json

            A beacon model reads the prompt with the Activation Beacon window loop at its own beacon_ratio (of
            several, the smallest whose memory holds the prompt); --ratio R fixes one beacon per R raw tokens, and
            gives a plain model fresh beacon parameters (EOS embedding, copied projections). Models run in their
            own precision (fp32 for HF weights); --dtype int8 packs the weights as int8 (faster, not identical).
            """)

    @Option(help: "Model directory or .gguf file (default: the SmolLM2-135M-Instruct GGUF installed by setup).")
    var model: String?
    @Option(help: "Prompt text.") var prompt: String?
    @Option(help: "Read the prompt from a UTF-8 file.") var promptFile: String?
    @Flag(help: "Wrap the prompt as a user turn in the model's chat template, with the generation prompt.") var chat = false
    @Option(help: "System message (with --chat).") var system: String?
    @Option(parsing: .unconditional, help: "Maximum tokens to generate.") var maxNewTokens = 128
    @Flag(help: "Greedy decoding (the default unless --temperature is given).") var greedy = false
    @Option(parsing: .unconditional, help: "Sampling temperature (0: greedy).") var temperature: Double = 0
    @Option(parsing: .unconditional, help: "Top-k filtering (0: off).") var topK = 0
    @Option(parsing: .unconditional, help: "Top-p (nucleus) filtering (1: off).") var topP: Double = 1
    @Option(parsing: .unconditional, help: "Repetition penalty (1: off).") var repetitionPenalty: Double = 1
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(name: .customLong("stop"), help: "Stop when this text appears (repeatable); it is not printed.") var stopStrings: [String] = []
    @Option(help: "Compute dtype: fp32, bf16, or int8 (fp32 activations over int8 weights; default: the model's own: fp32 for HF weights, as transformers runs them; for a GGUF int8 where the CPU has VNNI, else chosen from the CPU).")
    var dtype: String?
    @Option(help: "Intra-op threads (default: all cores).") var threads: Int?
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Beacon compression ratio: raw tokens per beacon (default: a beacon model's own beacon_ratio settings; plain attention for a plain model).")
    var ratio: Int?
    @Option(help: "Beacon window in raw tokens, when --ratio adds beacon parameters to a plain model.")
    var beaconWindow = 1024
    @Flag(help: "Print one JSON object {input_ids, output_ids, text, …} instead of streaming text.") var json = false

    func validate() throws {
        do {
            try parameters(stopTokenIds: []).validate()
        } catch let error as ModelError {
            throw ValidationError(error.errorDescription ?? "\(error)")
        }
        if let ratio, ratio <= 0 { throw ValidationError("--ratio must be positive, got \(ratio)") }
    }

    func run() throws {
        if let threads { try LibTorch.setNumThreads(threads) }
        let text = try promptText()
        let path = URL(fileURLWithPath: model ?? ModelPaths.defaultGGUF.path)
        let device = try deviceOption.resolve()
        let precision = try self.precision(of: path, on: device)
        let lm = try LanguageModel.load(path, dtype: precision.dtype, device: device)

        var input = text
        if chat {
            guard let template = lm.chatTemplate else {
                throw ValidationError("\(path.path) has no recognised chat template; drop --chat")
            }
            let messages = (system.map { [ChatMessage.system($0)] } ?? []) + [ChatMessage.user(text)]
            input = template.render(messages, addGenerationPrompt: true)
        }
        // A chat rendering already carries its special tokens; a raw prompt gets the tokenizer's own (e.g. BOS).
        let ids = lm.tokenizer.encode(input, addSpecialTokens: !chat)
        guard !ids.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }

        let parameters = parameters(stopTokenIds: lm.stopTokenIds)
        let memory = try beaconMemory(lm.model)
        if precision.int8Weights { try lm.model.quantizeInt8() }  // after any fresh beacon projections
        let attention = memory.map { "beacon memory, \(Self.describe($0.rule))" } ?? "plain attention"
        FileHandle.standardError.write(Data("[\(path.lastPathComponent): precision \(precision), \(attention)]\n".utf8))
        let reply = try lm.generateText(promptIds: ids, parameters: parameters, stopStrings: stopStrings,
                                        memory: memory) { piece in
            if !json { FileHandle.standardOutput.write(Data(piece.utf8)) }
            return true
        }
        let result = reply.generation
        if json {
            let output = GenerateOutput(
                input_ids: ids, output_ids: result.outputIds, text: reply.text, finish_reason: result.finishReason.rawValue,
                prefill_tokens_per_s: result.prefillTokensPerSecond, decode_tokens_per_s: result.decodeTokensPerSecond,
                ratio: memory?.currentRatio, beacon_entries: memory?.beaconEntries, raw_entries: memory?.rawEntries)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
        } else {
            print("")
            FileHandle.standardError.write(Data(String(
                format: "[%d prompt tokens at %.0f tok/s, %d generated at %.1f tok/s, %@]\n", ids.count,
                result.prefillTokensPerSecond, result.outputIds.count, result.decodeTokensPerSecond,
                result.finishReason.rawValue).utf8))
        }
    }

    private func parameters(stopTokenIds: Set<Int>) -> GenerationParameters {
        let sampling = SamplingParameters(temperature: greedy ? 0 : temperature, topK: topK, topP: topP,
                                          repetitionPenalty: repetitionPenalty, seed: seed)
        return GenerationParameters(maxNewTokens: maxNewTokens, sampling: sampling, stopTokenIds: stopTokenIds)
    }

    /// `--dtype`, else `MEMORAG_DTYPE`, else the model's own: float32 for HF weights (what transformers computes in,
    /// so greedy output matches it token for token); for a quantized GGUF the fastest measured choice on `device`.
    /// int8 is refused on a GPU.
    private func precision(of path: URL, on device: Device) throws -> InferencePrecision {
        let precision: InferencePrecision
        if let dtype {
            precision = try InferencePrecision.parse(dtype)
        } else if LanguageModel.isGGUF(path) {
            precision = try InferencePrecision.choose(for: device)
        } else {
            precision = try InferencePrecision.requested() ?? InferencePrecision(dtype: .float32)
        }
        try precision.check(on: device)
        return precision
    }

    /// The memory the prompt is read into: with `--ratio` one at that ratio (a plain model first gets fresh beacon
    /// parameters); without, a beacon model's own compression (its `beacon_ratio` settings, see
    /// `BeaconSettings.inferenceRule`), as it was trained to run; nil (plain attention) for a plain model.
    private func beaconMemory(_ model: DecoderLM) throws -> BeaconMemory? {
        guard let ratio else {
            guard let settings = model.config.beacon else { return nil }
            return try model.makeBeaconMemory(rule: settings.inferenceRule(futureTokens: maxNewTokens))
        }
        if model.config.beacon == nil {
            guard beaconWindow > 0, beaconWindow % ratio == 0 else {
                throw ValidationError("--beacon-window \(beaconWindow) must be a positive multiple of --ratio \(ratio)")
            }
            try model.addBeacon(BeaconSettings(window: beaconWindow, ratios: [ratio]))
            FileHandle.standardError.write(Data(
                "note: the model has no beacon parameters; using fresh (untrained) ones, window \(beaconWindow)\n".utf8))
        }
        return try model.makeBeaconMemory(ratio: ratio)
    }

    private func promptText() throws -> String {
        switch (prompt, promptFile) {
        case (let p?, nil):
            // Whitespace is text a model can continue; only nothing at all is no prompt.
            guard !p.isEmpty else { throw ValidationError("--prompt is empty") }
            return p
        case (nil, let file?):
            return try InputText.read(file, allowBlank: true)
        case (nil, nil):
            throw ValidationError("give --prompt or --prompt-file")
        default:
            throw ValidationError("give either --prompt or --prompt-file, not both")
        }
    }
}

extension GenerateCommand {
    /// How a memory picks its ratios, for the one line that says how the model runs.
    static func describe(_ rule: BeaconRatioRule) -> String {
        switch rule {
        case .fixed(let r): return "ratio \(r)"
        case .stepRandom(let rs, _): return "ratios \(rs) per window (step-random)"
        case .instanceRandom(let rs, _): return "one of ratios \(rs) (instance-random)"
        case .sequence(let rs): return "ratios \(rs) in turn"
        case .adapt(let rs, _): return "the smallest of ratios \(rs) that fits"
        case .schedule(let rs): return "ratios \(rs)"
        }
    }
}

struct GenerateOutput: Encodable {
    var input_ids: [Int]
    var output_ids: [Int]
    var text: String
    var finish_reason: String
    var prefill_tokens_per_s: Double
    var decode_tokens_per_s: Double
    /// With --ratio: the compression ratio and the beacon / raw KV entries per layer after generation.
    var ratio: Int?
    var beacon_entries: [Int]?
    var raw_entries: [Int]?
}

/// Reading user text files with errors that say what is wrong (missing, empty, not UTF-8).
enum InputText {
    /// `allowBlank`: only a file of no bytes is empty (a prompt of whitespace is a prompt); else a file of only
    /// whitespace is refused too (a document to memorize needs words).
    static func read(_ path: String, allowBlank: Bool = false) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(path): cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(path): not valid UTF-8 text")
        }
        guard allowBlank ? !text.isEmpty : !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("\(path): the file is empty")
        }
        return text
    }
}
