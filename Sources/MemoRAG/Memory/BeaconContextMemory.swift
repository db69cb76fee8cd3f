import Foundation
import Models
import Torch

/// The `beacon` memory: Activation Beacon compression of the memory prompt (about tokens / ratio KV entries per
/// layer, plus the raw entries of the last, partly filled window).
final class BeaconContextMemory: ContextMemory {
    let mode = MemoryMode.beacon
    private let memory: BeaconMemory

    private init(_ memory: BeaconMemory) { self.memory = memory }

    var positions: Int {
        zip(memory.beaconEntries, zip(memory.rawEntries, memory.sinkEntries)).map { $0 + $1.0 + $1.1 }.max() ?? 0
    }
    var entriesPerLayer: Int { positions }

    static let defaultSettings = BeaconSettings.memoryModelDefault

    /// A beacon model as it is, or a plain one with fresh (untrained) beacon parameters added.
    static func prepare(_ lm: LanguageModel) throws -> LanguageModel {
        if lm.model.config.beacon == nil { try lm.model.addBeacon(defaultSettings) }
        return lm
    }

    /// The smallest ratio whose memory (tokens / ratio beacons, one raw window) leaves `reserved` positions free.
    static func adaptiveRatio(tokens: Int, model lm: LanguageModel, reserved: Int) throws -> Int {
        let config = lm.model.config
        let settings = config.beacon ?? defaultSettings
        let candidates = Set(settings.ratios + defaultSettings.ratios).sorted()
        let free = config.maxPositionEmbeddings - settings.window - reserved
        if let ratio = candidates.first(where: { (tokens + $0 - 1) / $0 <= free }) { return ratio }
        let most = candidates.last ?? 32
        throw MemoRAGError.tooLong("the text has \(tokens) tokens; even at ratio \(most) its memory "
            + "(\((tokens + most - 1) / most) beacons + a \(settings.window)-token window + \(reserved) reserved) exceeds "
            + "the model's \(config.maxPositionEmbeddings) positions (about \(max(0, free) * most) tokens fit)")
    }

    static func memorize(_ lm: LanguageModel, promptIds: [Int], ratio: Int,
                         progress: ((Int, Int) -> Void)?) throws -> BeaconContextMemory {
        let memory = try lm.model.makeBeaconMemory(ratio: ratio)
        try lm.model.memorize(promptIds, into: memory, progress: progress)
        return BeaconContextMemory(memory)
    }

    func generate(_ lm: LanguageModel, promptIds: [Int], parameters: GenerationParameters, stopStrings: [String],
                  onText: (String) -> Bool) throws -> LanguageModel.TextResult {
        let state = try memory.copy()
        state.attendDType = Self.attendDType(for: lm.model.dtype)
        return try lm.decodeText(stopStrings: stopStrings, onText: onText) { onToken in
            try lm.model.generate(promptIds: promptIds, parameters: parameters, memory: state, onToken: onToken)
        }
    }

    /// The dtype tasks read the memory in: bfloat16 where the decoding kernel runs (AVX-512) over a float32 model
    /// — a decoded token's read of the memory halves, scores stay float32 — else the compute dtype.
    /// `MEMORAG_MEMORY_READS=fp32` keeps float32 reads (for comparisons).
    static func attendDType(for compute: DType,
                            environment: [String: String] = ProcessInfo.processInfo.environment) -> DType? {
        guard compute == .float32, Functional.decodeAttentionKernelAvailable,
              environment["MEMORAG_MEMORY_READS"]?.lowercased() != "fp32" else { return nil }
        return .bfloat16
    }

    func save(to url: URL, metadata: [String: String]) throws {
        try memory.save(to: url, metadata: metadata)
    }

    static func load(from url: URL, for lm: LanguageModel, fingerprint: String) throws -> BeaconContextMemory {
        BeaconContextMemory(try BeaconMemory.load(from: url, for: lm.model, modelFingerprint: fingerprint))
    }
}
