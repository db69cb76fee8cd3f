import Foundation
import Torch

/// The kinds of SFT examples: the clue tasks of MemoRAG's memory model (recall → text spans, rewrite → surrogate
/// questions, answer → a draft answer) and summarize. Stored as a uint8 HDF5 enum with these names.
public enum ClueTask: String, CaseIterable, Codable, Sendable {
    case recall, rewrite, answer, summarize

    var code: UInt8 { UInt8(Self.allCases.firstIndex(of: self)!) }
}

/// One SFT example: the trainer reads context `contextID` (if any) into the beacon memory, then the prompt, and
/// learns the target.
public struct SFTExample: Sendable, Equatable {
    public var contextID: Int?
    public var prompt: [UInt32]
    public var target: [UInt32]
    public var task: ClueTask

    public init(contextID: Int?, prompt: [UInt32], target: [UInt32], task: ClueTask) {
        self.contextID = contextID
        self.prompt = prompt
        self.target = target
        self.task = task
    }
}

/// The SFT store (DESIGN §5): `/contexts/tokens` + `/contexts/offsets` (each long document stored once),
/// `/examples/context_id` int64 (−1: no context), `/examples/prompt_tokens` + `/examples/prompt_offsets`,
/// `/examples/target_tokens` + `/examples/target_offsets`, `/examples/task` (uint8 enum recall | rewrite | answer |
/// summarize); root attributes `format = "memorag.sft"`, `version`, `vocab_size`, `tokenizer_sha256`, `sources`,
/// `n_contexts`, `n_examples`.
public final class SFTStore: @unchecked Sendable {
    public static let format = "memorag.sft"
    public static let version = 1

    public let url: URL
    public let vocabSize: Int
    public let tokenizerSHA256: String
    public let sources: [String]
    public let contextOffsets: [Int]
    public let contextIDs: [Int?]
    public let tasks: [ClueTask]
    private let promptOffsets: [Int]
    private let targetOffsets: [Int]
    private let file: H5File
    private let contextTokens: H5Dataset
    private let promptTokens: H5Dataset
    private let targetTokens: H5Dataset

    public var contextCount: Int { contextOffsets.count - 1 }
    public var exampleCount: Int { tasks.count }

    public init(url: URL, tokenizerSHA256 expectedTokenizer: String? = nil) throws {
        self.url = url
        let path = url.path
        let file = try H5File.open(path: path)
        self.file = file
        let header = try StoreHeader(file: file, format: Self.format, supportedVersion: Self.version,
                                     tokenizerSHA256: expectedTokenizer)
        vocabSize = header.vocabSize
        tokenizerSHA256 = header.tokenizerSHA256
        sources = header.sources

        func offsets(_ name: String, total: Int) throws -> [Int] {
            let set = try H5Dataset.open(in: file, name: name, of: UInt64.self)
            return try StoreHeader.checkedOffsets(try set.read(0..<set.count, as: UInt64.self), total: total,
                                                  name: name, path: path)
        }
        let contextTokens = try H5Dataset.open(in: file, name: "/contexts/tokens", of: UInt32.self)
        let contextOffsets = try offsets("/contexts/offsets", total: contextTokens.count)
        let promptTokens = try H5Dataset.open(in: file, name: "/examples/prompt_tokens", of: UInt32.self)
        let promptOffsets = try offsets("/examples/prompt_offsets", total: promptTokens.count)
        let targetTokens = try H5Dataset.open(in: file, name: "/examples/target_tokens", of: UInt32.self)
        let targetOffsets = try offsets("/examples/target_offsets", total: targetTokens.count)
        (self.contextTokens, self.contextOffsets, self.promptTokens) = (contextTokens, contextOffsets, promptTokens)
        (self.promptOffsets, self.targetTokens, self.targetOffsets) = (promptOffsets, targetTokens, targetOffsets)
        let ids = try H5Dataset.open(in: file, name: "/examples/context_id", of: Int64.self)
        let taskSet = try H5Dataset.openEnum(in: file, name: "/examples/task", members: ClueTask.allCases.map(\.rawValue))
        let n = taskSet.count
        guard ids.count == n, promptOffsets.count == n + 1, targetOffsets.count == n + 1 else {
            throw DataError.invalid(path: path, reason: "example datasets disagree on the number of examples "
                                        + "(task \(n), context_id \(ids.count), prompt offsets \(promptOffsets.count - 1), "
                                        + "target offsets \(targetOffsets.count - 1))")
        }
        let contexts = contextOffsets.count - 1
        let contextIDs: [Int?] = try ids.read(0..<n, as: Int64.self).enumerated().map { i, id in
            if id == -1 { return nil }
            guard id >= 0, id < Int64(contexts) else {
                throw DataError.invalid(path: path, reason: "example \(i) names context \(id) of \(contexts)")
            }
            return Int(id)
        }
        self.contextIDs = contextIDs
        tasks = try taskSet.read(0..<n, as: UInt8.self).enumerated().map { i, code in
            guard Int(code) < ClueTask.allCases.count else {
                throw DataError.invalid(path: path, reason: "example \(i) has task code \(code)")
            }
            return ClueTask.allCases[Int(code)]
        }
        for (name, expected) in [("n_contexts", contexts), ("n_examples", n)] {
            if let declared = try file.intAttribute(name), declared != Int64(expected) {
                throw DataError.invalid(path: path, reason: "\(name) is \(declared) but the datasets hold \(expected)")
            }
        }
    }

    public func context(_ id: Int) throws -> [UInt32] {
        guard id >= 0, id < contextCount else {
            throw DataError.invalid(path: url.path, reason: "no context \(id) (the store has \(contextCount))")
        }
        return try checked(contextTokens.read(contextOffsets[id]..<contextOffsets[id + 1], as: UInt32.self))
    }

    public func example(_ index: Int) throws -> SFTExample {
        guard index >= 0, index < exampleCount else {
            throw DataError.invalid(path: url.path, reason: "no example \(index) (the store has \(exampleCount))")
        }
        let prompt = try checked(promptTokens.read(promptOffsets[index]..<promptOffsets[index + 1], as: UInt32.self))
        let target = try checked(targetTokens.read(targetOffsets[index]..<targetOffsets[index + 1], as: UInt32.self))
        return SFTExample(contextID: contextIDs[index], prompt: prompt, target: target, task: tasks[index])
    }

    private func checked(_ ids: [UInt32]) throws -> [UInt32] {
        if let bad = ids.first(where: { Int($0) >= vocabSize }) {
            throw DataError.invalid(path: url.path, reason: "token \(bad) is outside the vocabulary (\(vocabSize))")
        }
        return ids
    }
}

/// Streams contexts and examples into a new SFT store (atomic, like `TokenStoreWriter`). Contexts are
/// deduplicated by a caller-given key (e.g. the sha256 of their text): adding the same key again returns the
/// first id without storing the tokens twice.
public final class SFTStoreWriter {
    public let url: URL
    public let vocabSize: Int
    public let tokenizerSHA256: String
    public private(set) var exampleCount = 0
    public var contextCount: Int { contextOffsets.count - 1 }

    private let output: AtomicOutput
    private var file: H5File?
    private var sets: [String: H5Dataset] = [:]
    private var contextOffsets: [UInt64] = [0]
    private var promptOffsets: [UInt64] = [0]
    private var targetOffsets: [UInt64] = [0]
    private var contextKeys: [String: Int] = [:]
    private var sources: [String] = []
    private var finished = false

    public init(url: URL, vocabSize: Int, tokenizerSHA256: String) throws {
        let (output, file) = try AtomicOutput.openStore(url: url, vocabSize: vocabSize)
        self.url = url
        self.vocabSize = vocabSize
        self.tokenizerSHA256 = tokenizerSHA256
        self.output = output
        self.file = file
        try file.createGroup("/contexts")
        try file.createGroup("/examples")
        sets["/contexts/tokens"] = try H5Dataset.create(in: file, name: "/contexts/tokens", of: UInt32.self, chunk: 1 << 16)
        sets["/examples/prompt_tokens"] = try H5Dataset.create(in: file, name: "/examples/prompt_tokens", of: UInt32.self,
                                                               chunk: 1 << 14)
        sets["/examples/target_tokens"] = try H5Dataset.create(in: file, name: "/examples/target_tokens", of: UInt32.self,
                                                               chunk: 1 << 14)
        sets["/examples/context_id"] = try H5Dataset.create(in: file, name: "/examples/context_id", of: Int64.self,
                                                            chunk: 4096)
        sets["/examples/task"] = try H5Dataset.createEnum(in: file, name: "/examples/task",
                                                          members: ClueTask.allCases.map(\.rawValue), chunk: 4096)
    }

    deinit { if !finished { sets = [:]; file = nil; output.discard() } }

    public func addSource(_ name: String) { sources.append(name) }

    /// The id of the context with `key`, if one was added.
    public func contextID(forKey key: String) -> Int? { contextKeys[key] }

    /// Stores a context once per key and returns its id.
    @discardableResult
    public func addContext<Ids: Collection>(_ ids: Ids, key: String) throws -> Int where Ids.Element: BinaryInteger {
        if let id = contextKeys[key] { return id }
        let tokens = try checked(ids, what: "context")
        try sets["/contexts/tokens"]!.append(tokens)
        contextOffsets.append(contextOffsets.last! + UInt64(tokens.count))
        let id = contextOffsets.count - 2
        contextKeys[key] = id
        return id
    }

    public func addExample<P: Collection, T: Collection>(contextID: Int?, prompt: P, target: T, task: ClueTask) throws
    where P.Element: BinaryInteger, T.Element: BinaryInteger {
        if let contextID, contextID < 0 || contextID >= contextCount {
            throw DataError.writeFailed(path: url.path, reason: "example names context \(contextID) of \(contextCount)")
        }
        let p = try checked(prompt, what: "prompt")
        let t = try checked(target, what: "target")
        guard !t.isEmpty else { throw DataError.writeFailed(path: url.path, reason: "example \(exampleCount) has an empty target") }
        try sets["/examples/prompt_tokens"]!.append(p)
        try sets["/examples/target_tokens"]!.append(t)
        try sets["/examples/context_id"]!.append([Int64(contextID ?? -1)])
        try sets["/examples/task"]!.append([task.code])
        promptOffsets.append(promptOffsets.last! + UInt64(p.count))
        targetOffsets.append(targetOffsets.last! + UInt64(t.count))
        exampleCount += 1
    }

    private func checked<Ids: Collection>(_ ids: Ids, what: String) throws -> [UInt32] where Ids.Element: BinaryInteger {
        try ids.map { id in
            guard id >= 0, Int(id) < vocabSize else {
                throw DataError.writeFailed(path: url.path, reason: "\(what) token id \(id) outside the vocabulary (\(vocabSize))")
            }
            return UInt32(id)
        }
    }

    public func finish() throws {
        guard let file, !finished else { return }
        try output.finishStore(file, write: {
            for (name, values) in [("/contexts/offsets", contextOffsets), ("/examples/prompt_offsets", promptOffsets),
                                   ("/examples/target_offsets", targetOffsets)] {
                let set = try H5Dataset.create(in: file, name: name, of: UInt64.self, chunk: min(1 << 14, values.count))
                try set.append(values)
            }
            try StoreHeader.write(to: file, format: SFTStore.format, version: SFTStore.version, vocabSize: vocabSize,
                                  tokenizerSHA256: tokenizerSHA256, sources: sources)
            try file.setAttribute("n_contexts", Int64(contextCount))
            try file.setAttribute("n_examples", Int64(exampleCount))
        }, close: {
            sets = [:]
            self.file = nil
            finished = true
        })
    }
}
