import Foundation

/// Where setup (scripts/fetch-models.sh) installs the default weights: `$MEMORAG_CACHE/models`, by default
/// `~/.cache/memorag/models`.
enum ModelPaths {
    static var cache: URL {
        if let dir = ProcessInfo.processInfo.environment["MEMORAG_CACHE"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/memorag")
    }

    static var models: URL { cache.appendingPathComponent("models") }
    static var defaultGGUF: URL { models.appendingPathComponent("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf") }
    /// The shipped memory model when its trained beacon weights are in place, else the base GGUF (whose beacon
    /// parameters then start untrained, from EOS and the plain projections).
    static var defaultMemoryModel: URL {
        let shipped = shippedMemoryModel
        if FileManager.default.fileExists(atPath: shipped.appendingPathComponent("config.json").path) { return shipped }
        return defaultGGUF
    }

    /// The demo book (Examples/alice.txt of the source tree this binary was built from).
    static var demoBook: URL { sourceTree.appendingPathComponent("Examples/alice.txt") }

    static var sourceTree: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `checkpoints/memorag-smollm2-135m` of the source tree this binary was built from (or MEMORAG_CHECKPOINTS).
    static var shippedMemoryModel: URL {
        if let dir = ProcessInfo.processInfo.environment["MEMORAG_CHECKPOINTS"], !dir.isEmpty {
            return URL(fileURLWithPath: dir).appendingPathComponent("memorag-smollm2-135m")
        }
        return sourceTree.appendingPathComponent("checkpoints/memorag-smollm2-135m")
    }

    static var defaultRetriever: URL { models.appendingPathComponent("all-MiniLM-L6-v2") }
}
