import Foundation
import Models
import Torch

/// The `beacon` memory: Activation Beacon compression of the memory prompt (about tokens / ratio KV entries per
/// layer, plus the raw entries of the last, partly filled window).
final class BeaconContextMemory: ContextMemory {
    let mode = MemoryMode.beacon
    private let memory: BeaconMemory
    /// A copy of the memory that has also read a prompt prefix many tasks share, its rotated memory ready (made on
    /// first use). Those tasks continue from copies of it, which read its rotated entries where they lie: neither
    /// the prefix nor the rotation of the whole memory is redone per task.
    private var primed: (prefix: [Int], memory: BeaconMemory)?
    /// Tasks may run side by side (clue generations): one primes, the others wait for it.
    private let primingLock = NSLock()

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

    func generate(_ lm: LanguageModel, promptIds: [Int], sharedPrefix: Int, parameters: GenerationParameters,
                  stopStrings: [String], onText: (String) -> Bool) throws -> LanguageModel.TextResult {
        let (state, alreadyRead) = try continuation(lm, promptIds: promptIds, sharedPrefix: sharedPrefix)
        return try lm.decodeText(stopStrings: stopStrings, onText: onText) { onToken in
            try lm.model.generate(promptIds: promptIds, alreadyRead: alreadyRead, parameters: parameters,
                                  memory: state, onToken: onToken)
        }
    }

    /// The attention the task prompt `promptIds` pays to each entry of the stored memory, per layer of `layers`
    /// (`DecoderLM.memoryAttention`).
    func attention(_ lm: LanguageModel, promptIds: [Int], sharedPrefix: Int, layers: ClosedRange<Int>) throws -> [[Float]] {
        let (state, alreadyRead) = try continuation(lm, promptIds: promptIds, sharedPrefix: sharedPrefix)
        return try lm.model.memoryAttention(promptIds: promptIds, alreadyRead: alreadyRead, memory: state,
                                            entries: positions, layers: layers)
    }

    /// The tokens of the memory prompt each stored entry stands for (`BeaconMemory.entryTokenRanges`).
    func entryTokenRanges() throws -> [Range<Int>] { try memory.entryTokenRanges() }

    /// The state a task continues from and how many of its prompt ids that state has read: a copy of the primed
    /// memory when the prompt opens with a shared prefix (priming it first if needed), else a copy of the memory.
    private func continuation(_ lm: LanguageModel, promptIds: [Int], sharedPrefix: Int) throws
        -> (BeaconMemory, alreadyRead: Int)
    {
        let attendDType = Self.attendDType(for: lm.model.dtype)
        guard sharedPrefix > 0, sharedPrefix < promptIds.count else {
            let state = try memory.copy()
            state.attendDType = attendDType
            return (state, 0)
        }
        let prefix = Array(promptIds[..<sharedPrefix])
        return try primingLock.withLock {
            if let primed, primed.prefix == prefix, primed.memory.attendDType == attendDType {
                return (try primed.memory.copy(), sharedPrefix)
            }
            let state = try memory.copy()
            state.attendDType = attendDType
            try lm.model.read(prefix, into: state)
            primed = (prefix, state)
            return (try state.copy(), sharedPrefix)
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
