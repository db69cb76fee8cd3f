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
    static var defaultRetriever: URL { models.appendingPathComponent("all-MiniLM-L6-v2") }
}
