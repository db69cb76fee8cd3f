import Foundation
import Torch

/// What every rank of a run must share before step 1: the world size, the resolved recipe, and the model and data
/// files. Files are identified by size and the SHA-256 of their first and last MiB — enough to tell another
/// checkpoint, a re-prepared store or a truncated copy apart in milliseconds, without reading gigabytes per rank.
public struct RunFingerprint: Codable, Sendable, Equatable {
    public var worldSize: Int
    /// The resolved recipe as YAML (`RecipeLoader.yaml`).
    public var recipe: String
    /// "name: size bytes, head+tail sha256" for each file of the model (a GGUF file, or the files of an HF dir).
    public var model: [String]
    /// The same for `data.train` and `data.validation`.
    public var data: [String]

    public init(worldSize: Int, recipe: Recipe) throws {
        self.worldSize = worldSize
        self.recipe = try RecipeLoader.yaml(recipe)
        model = Self.describe(path: recipe.model.path)
        data = ([recipe.data.train] + (recipe.data.validation.map { [$0] } ?? [])).flatMap { Self.describe(path: $0) }
    }

    /// The first difference, in words (nil when there is none).
    public func difference(from other: RunFingerprint) -> String? {
        if worldSize != other.worldSize { return "WORLD_SIZE is \(other.worldSize) there and \(worldSize) on rank 0" }
        if recipe != other.recipe {
            let mine = recipe.split(separator: "\n", omittingEmptySubsequences: false)
            let theirs = other.recipe.split(separator: "\n", omittingEmptySubsequences: false)
            let line = zip(mine, theirs).first { $0 != $1 } ?? (mine.last ?? "", theirs.last ?? "")
            return "its resolved recipe has '\(line.1.trimmingCharacters(in: .whitespaces))' where rank 0's has "
                + "'\(line.0.trimmingCharacters(in: .whitespaces))'"
        }
        if model != other.model { return "its model files differ (\(Self.firstDifference(model, other.model)))" }
        if data != other.data { return "its data files differ (\(Self.firstDifference(data, other.data)))" }
        return nil
    }

    private static func firstDifference(_ a: [String], _ b: [String]) -> String {
        let pair = zip(a, b).first { $0 != $1 } ?? (a.last ?? "nothing", b.last ?? "nothing")
        return "rank 0: \(pair.0); there: \(pair.1)"
    }

    static func describe(path: String) -> [String] {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return ["\(path): missing"] }
        guard isDirectory.boolValue else { return [describe(file: url, name: url.lastPathComponent)] }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
        return names.filter { !$0.hasPrefix(".") }.map { describe(file: url.appendingPathComponent($0), name: $0) }
    }

    private static func describe(file url: URL, name: String) -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return "\(name): unreadable" }
        defer { try? handle.close() }
        let mebibyte = 1 << 20
        guard let size = try? handle.seekToEnd() else { return "\(name): unreadable" }
        var sampled = Data()
        try? handle.seek(toOffset: 0)
        sampled.append((try? handle.read(upToCount: mebibyte)) ?? Data())
        if size > UInt64(mebibyte) {
            try? handle.seek(toOffset: size - UInt64(mebibyte))
            sampled.append((try? handle.read(upToCount: mebibyte)) ?? Data())
        }
        return "\(name): \(size) bytes, sha256 of head+tail \(SHA256.hex(sampled).prefix(16))"
    }
}
