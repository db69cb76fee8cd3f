extension FaultCase {
    /// Hostile inputs met by the serving side of the CLI (memorize, ask, eval, serve).
    static let serving: [FaultCase] = [
        // A cache manifest naming a memory file outside the cache dir: refused while reading the manifest, before
        // any model loads, and the outside file is not read.
        FaultCase(name: "cache-memory-file-outside",
                  make: cacheManifest(memoryFile: "../other/memory.safetensors")
                      + #"mkdir -p other; echo secret > other/memory.safetensors"#,
                  arguments: ["ask", "--cache", "$CASE/cache", "Who kept the lighthouse?"],
                  expectedError: "\"../other/memory.safetensors\" is not a file inside", unchanged: ["other"]),
        FaultCase(name: "cache-memory-file-absolute",
                  make: cacheManifest(memoryFile: "/etc/passwd"),
                  arguments: ["ask", "--cache", "$CASE/cache", "Who kept the lighthouse?"],
                  expectedError: "\"/etc/passwd\" is not a file inside"),
        // The name is plain, but the file is a symlink leading out of the cache dir.
        FaultCase(name: "cache-memory-file-symlink-out",
                  make: cacheManifest(memoryFile: "memory.safetensors")
                      + #"mkdir -p other; echo secret > other/m; ln -s "$CASE/other/m" cache/memory.safetensors"#,
                  arguments: ["ask", "--cache", "$CASE/cache", "Who kept the lighthouse?"],
                  expectedError: "is a symlink to", unchanged: ["other"]),
        // `serve --data-dir` naming a regular file: said so before any model loads, and the file is left alone.
        FaultCase(name: "serve-data-dir-is-a-file",
                  make: #"echo "not a dir" > data"#,
                  arguments: ["serve", "--data-dir", "$CASE/data", "--port", "0"],
                  expectedError: "data is a file, not a directory", unchanged: ["data"]),
    ]

    /// A script writing `cache/manifest.json` of one document whose memory file is `memoryFile` (with empty
    /// `chunks.jsonl`), otherwise well formed, so the path is the only thing wrong with it.
    static func cacheManifest(memoryFile: String) -> String {
        let manifest = """
            {"format": "memorag.cache", "version": 1, "mode": "beacon", "language": "en", "chunk_tokens": 64,
             "memory_model": {"source": "$CASE/no-model", "fingerprint": "0"},
             "retriever": {"source": "$CASE/no-retriever", "fingerprint": "0"}, "retriever_dimension": 32,
             "index_factory": "Flat", "chunk_count": 0, "created_at": "2026-01-01T00:00:00Z",
             "updated_at": "2026-01-01T00:00:00Z",
             "documents": [{"name": "lighthouse", "sha256": "0", "characters": 1, "tokens": 1, "ratio": 4,
                            "memory_file": "\(memoryFile)", "memory_entries": 1, "memory_positions": 1,
                            "first_chunk": 0, "chunk_count": 0}]}
            """
        return "mkdir -p cache; : > cache/chunks.jsonl; cat > cache/manifest.json <<JSON\n\(manifest)\nJSON\n"
    }
}
