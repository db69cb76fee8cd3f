import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A checkpoint directory in the Hugging Face layout: either one `model.safetensors`, or shards
/// `model-0000K-of-0000N.safetensors` listed by `model.safetensors.index.json`, whose `weight_map` maps each tensor
/// name to the shard holding it.
///
/// Opening checks the whole checkpoint, so a mismatched or half-copied set of shards fails at load time with the index,
/// shard and tensor named rather than later with a missing weight: every tensor in `weight_map` must be in its shard,
/// and every tensor in a shard must be mapped there (which also rules out one tensor in two shards).
public final class SafetensorsCheckpoint: Sendable {
    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    public let directory: URL
    /// The index file, nil for a single-file checkpoint.
    public let indexURL: URL?
    /// `model.safetensors` alone, or every shard once, in file-name order. Each file carries its own `metadata`.
    public let files: [SafetensorsFile]
    /// Every tensor name, sorted.
    public let names: [String]

    /// Position in `files` of the file holding each tensor.
    private let fileIndex: [String: Int]

    public init(directory: URL) throws {
        self.directory = directory
        let singleURL = directory.appendingPathComponent(SafetensorsCheckpoint.singleFileName)
        let indexURL = directory.appendingPathComponent(SafetensorsCheckpoint.indexFileName)
        let hasSingle = FileManager.default.fileExists(atPath: singleURL.path)
        let hasIndex = FileManager.default.fileExists(atPath: indexURL.path)

        switch (hasSingle, hasIndex) {
        case (true, true):
            throw SafetensorsError.ambiguousCheckpoint(directory: directory.path)
        case (false, false):
            throw SafetensorsError.noCheckpoint(directory: directory.path)
        case (true, false):
            let file = try SafetensorsFile(url: singleURL)
            self.indexURL = nil
            self.files = [file]
            self.fileIndex = file.entries.mapValues { _ in 0 }
        case (false, true):
            let weightMap = try SafetensorsCheckpoint.readWeightMap(indexURL)
            let shardNames = Set(weightMap.values).sorted()
            let files = try shardNames.map { shard in
                try SafetensorsCheckpoint.openShard(shard, in: directory, weightMap: weightMap,
                                                    indexPath: indexURL.path)
            }
            self.indexURL = indexURL
            self.files = files
            self.fileIndex = try SafetensorsCheckpoint.checkShards(
                weightMap: weightMap, shardNames: shardNames, files: files, indexPath: indexURL.path)
        }
        self.names = fileIndex.keys.sorted()
    }

    public func entry(_ name: String) -> SafetensorsEntry? { file(containing: name)?.entries[name] }

    public func file(containing name: String) -> SafetensorsFile? { fileIndex[name].map { files[$0] } }

    /// Calls `body` with the bytes of tensor `name` straight from its file's mapping; see `SafetensorsFile.withBytes`.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let file = file(containing: name) else {
            throw SafetensorsError.tensorNotFound(path: directory.path, tensor: name)
        }
        return try file.withBytes(of: name, body)
    }

    /// Reads `weight_map` from an index file, insisting that every shard is a file inside the checkpoint directory: an
    /// index comes from the checkpoint's author, and a name like "../x" or a symlink out must not reach outside it.
    private static func readWeightMap(_ indexURL: URL) throws -> [String: String] {
        let path = indexURL.path
        func invalid(_ reason: String) -> SafetensorsError { .invalidIndex(path: path, reason: reason) }

        let data: Data
        do {
            data = try Data(contentsOf: indexURL)
        } catch {
            throw invalid("cannot read: \(error.localizedDescription)")
        }
        let root: SafetensorsJSON
        do {
            root = try data.withUnsafeBytes { try SafetensorsJSONParser.parse($0) }
        } catch let error as SafetensorsJSONError {
            throw invalid(error.description)
        }
        guard case let .object(members) = root else { throw invalid("it is \(root.kindDescription), not an object") }
        guard let weightMapValue = members["weight_map"] else { throw invalid("missing \"weight_map\"") }
        guard case let .object(entries) = weightMapValue else {
            throw invalid("\"weight_map\" is \(weightMapValue.kindDescription), expected an object")
        }
        guard !entries.isEmpty else { throw invalid("\"weight_map\" is empty") }

        var weightMap: [String: String] = [:]
        for (tensor, value) in entries {
            guard case let .string(shard) = value else {
                throw invalid("weight_map[\(SafetensorsJSON.quoted(tensor))] is \(value.kindDescription),"
                    + " expected a file name")
            }
            do {
                _ = try ContainedPath.resolve(shard, in: indexURL.deletingLastPathComponent())
            } catch let escape as ContainedPath.Escape {
                throw invalid("weight_map[\(SafetensorsJSON.quoted(tensor))] is \(SafetensorsJSON.quoted(shard)),"
                    + " which is not a file name inside the checkpoint directory (\(escape.reason))")
            }
            weightMap[tensor] = shard
        }
        return weightMap
    }

    /// Opens one shard, turning a missing or unreadable file into an error that names the index and a tensor mapped
    /// to the shard; errors inside a shard that opened name the shard's own path.
    private static func openShard(_ shard: String, in directory: URL, weightMap: [String: String],
                                  indexPath: String) throws -> SafetensorsFile {
        do {
            return try SafetensorsFile(url: directory.appendingPathComponent(shard))
        } catch let SafetensorsError.cannotOpen(_, reason) {
            let tensor = sortedByKey(weightMap).first { $0.value == shard }?.key ?? ""
            throw SafetensorsError.cannotOpenShard(indexPath: indexPath, shard: shard, tensor: tensor, reason: reason)
        }
    }

    /// Checks that the shards hold exactly the tensors `weightMap` assigns them; returns each tensor's file position.
    private static func checkShards(weightMap: [String: String], shardNames: [String], files: [SafetensorsFile],
                                    indexPath: String) throws -> [String: Int] {
        var shardsHolding: [String: [Int]] = [:]
        for (position, file) in files.enumerated() {
            for name in file.names { shardsHolding[name, default: []].append(position) }
        }
        for (tensor, shard) in sortedByKey(weightMap) {
            let holders = shardsHolding[tensor, default: []].map { shardNames[$0] }
            guard holders.contains(shard) else {
                throw SafetensorsError.tensorMissingFromShard(indexPath: indexPath, shard: shard, tensor: tensor)
            }
        }
        var fileIndex: [String: Int] = [:]
        for (tensor, positions) in sortedByKey(shardsHolding) {
            guard positions.count == 1 else {
                throw SafetensorsError.tensorInSeveralShards(indexPath: indexPath, tensor: tensor,
                                                             shards: positions.map { shardNames[$0] })
            }
            guard weightMap[tensor] != nil else {
                throw SafetensorsError.tensorNotInWeightMap(indexPath: indexPath, shard: shardNames[positions[0]],
                                                            tensor: tensor)
            }
            fileIndex[tensor] = positions[0]
        }
        return fileIndex
    }
}

/// Dictionary pairs in byte-wise key order, so that of several problems the same one is always reported first.
private func sortedByKey<Value>(_ dictionary: [String: Value]) -> [(key: String, value: Value)] {
    dictionary.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
}

extension SafetensorsCheckpoint {
    /// Writes `tensors` as a checkpoint in `directory` (which must exist) and returns the files written.
    ///
    /// Tensors are packed into shards in the given order, as transformers does, so that neighbouring layers share a
    /// shard: a shard takes tensors until the next one would push it past `maxShardBytes` of tensor data, and a tensor
    /// larger than the limit gets a shard of its own. A single shard is written as `model.safetensors` with no index.
    /// `metadata` goes into every file; the index records `total_size`, the sum of all tensor bytes.
    ///
    /// Every file is written atomically, and the index last, so the index never names shards that are not yet
    /// complete. The file of the other layout (index or `model.safetensors`) is removed afterwards, since a directory
    /// holding both is refused as ambiguous; shards of an earlier, larger save are left alone and ignored.
    @discardableResult
    public static func write(_ tensors: [SafetensorsWriter.Tensor], metadata: [String: String] = [:],
                             maxShardBytes: Int, to directory: URL) throws -> [URL] {
        guard maxShardBytes > 0 else { throw SafetensorsError.invalidShardSize(maxShardBytes: maxShardBytes) }
        try SafetensorsWriter.validate(tensors)

        var shards: [[SafetensorsWriter.Tensor]] = []
        var current: [SafetensorsWriter.Tensor] = []
        var currentBytes = 0
        for tensor in tensors {
            if !current.isEmpty && currentBytes + tensor.data.count > maxShardBytes {
                shards.append(current)
                current = []
                currentBytes = 0
            }
            current.append(tensor)
            currentBytes += tensor.data.count
        }
        if !current.isEmpty || shards.isEmpty { shards.append(current) }

        let singleURL = directory.appendingPathComponent(singleFileName)
        let indexURL = directory.appendingPathComponent(indexFileName)
        if shards.count == 1 {
            try SafetensorsWriter.write(shards[0], metadata: metadata, to: singleURL)
            try removeIfPresent(indexURL)
            return [singleURL]
        }

        var written: [URL] = []
        var weightMap: [String: String] = [:]
        for (position, shard) in shards.enumerated() {
            let shardName = "model-\(fiveDigits(position + 1))-of-\(fiveDigits(shards.count)).safetensors"
            let url = directory.appendingPathComponent(shardName)
            try SafetensorsWriter.write(shard, metadata: metadata, to: url)
            written.append(url)
            for tensor in shard { weightMap[tensor.name] = shardName }
        }
        let totalSize = tensors.reduce(0) { $0 + $1.data.count }
        let index = Array(indexJSON(weightMap: weightMap, totalSize: totalSize).utf8)
        try AtomicFileWriter.write(to: indexURL) { sink in try index.withUnsafeBytes { try sink($0) } }
        try removeIfPresent(singleURL)
        return written + [indexURL]
    }

    /// The index as transformers writes it (`json.dumps(index, indent=2, sort_keys=True) + "\n"`), so that a diff
    /// between a Swift-written and a Python-written index shows only real differences.
    static func indexJSON(weightMap: [String: String], totalSize: Int) -> String {
        let entries = weightMap.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { "    \(SafetensorsJSON.quoted($0.key)): \(SafetensorsJSON.quoted($0.value))" }
        return "{\n  \"metadata\": {\n    \"total_size\": \(totalSize)\n  },\n  \"weight_map\": {\n"
            + entries.joined(separator: ",\n") + "\n  }\n}\n"
    }

    private static func fiveDigits(_ number: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    private static func removeIfPresent(_ url: URL) throws {
        let path = url.path
        guard unlink(path) == 0 || errno == ENOENT else {
            let reason = SafetensorsError.posixReason()
            throw SafetensorsError.writeFailed(path: path, reason: "cannot remove stale file: \(reason)")
        }
    }
}
