import ArgumentParser
import Foundation
import MemoRAG

/// `memorag memorize FILE… --cache DIR`: read documents into a memory cache dir.
struct MemorizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memorize",
        abstract: "Memorize text files into a cache dir (memory per document, passages, faiss index).",
        discussion: """
            Examples:
              memorag memorize Examples/alice.txt --cache /tmp/alice
              memorag memorize a.txt b.txt --cache /tmp/books --ratio 8
              memorag memorize c.txt --cache /tmp/books --add        # add a document, keep the others
              memorag memorize notes.txt --cache /tmp/notes --mode longllm
            """)

    @Argument(help: "UTF-8 text files; each is one document named after its file.") var files: [String]
    @Option(help: "The cache dir to write (replaced atomically; with --add, extended).") var cache: String
    @Option(help: "Beacon compression ratio (default: the smallest of 2,4,8,16,32 that fits).") var ratio: Int?
    @Option(help: "Memory mode: beacon, lite or longllm.") var mode: MemoryMode = .beacon
    @Flag(help: "Add the files to the existing cache instead of replacing it.") var add = false
    @Option(help: "Prompt language en or zh (default: guessed from the text).") var language: String?
    @Option(help: "Passage size in retriever tokens (default: the retriever's limit).") var chunkTokens: Int?
    @Option(help: "faiss index_factory string (default Flat; e.g. HNSW32, IVF256,Flat).") var indexFactory = "Flat"
    @Flag(help: "Keep the cache when it already holds these files, memorized by these models.") var reuse = false
    @Flag(help: "Print the report as JSON.") var json = false
    @OptionGroup var options: PipelineOptions

    func run() async throws {
        let documents = try files.map { path in
            (name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
             text: try InputText.read(path))
        }
        let cacheURL = URL(fileURLWithPath: cache)
        var configuration: MemoRAGConfiguration
        if add {
            configuration = try options.configuration(manifest: try readManifest(cache))
        } else {
            configuration = try options.configuration()
            configuration.mode = mode
            configuration.language = language
            configuration.chunkTokens = chunkTokens
            configuration.indexFactory = indexFactory
        }
        configuration.ratio = ratio
        let rag = try MemoRAG(configuration: configuration)
        announcePrecision(rag.models)
        let line = ProgressLine()
        let started = Date()
        let progress: @Sendable (MemorizeProgress) -> Void = { p in
            let fraction = p.total > 0 ? Double(p.done) / Double(p.total) : 0
            let elapsed = Date().timeIntervalSince(started)
            line.update(String(format: "%@ %@: %d/%d (%.0f%%), %@ elapsed", p.document, p.stage.rawValue, p.done,
                               p.total, fraction * 100, shortDuration(elapsed)),
                        key: p.document + p.stage.rawValue)
        }
        if reuse, !add, await rag.loadIfCurrent(cacheDir: cacheURL, documents: documents) {
            print("\(cache) already holds \(documents.map(\.name).joined(separator: ", ")) memorized by these models; reusing it")
            return
        }
        let report: MemorizeReport
        if add {
            try await rag.load(cacheDir: cacheURL)
            var last: MemorizeReport?
            for document in documents {
                last = try await rag.addDocument(document.text, name: document.name, progress: progress)
            }
            report = last!
        } else {
            report = try await rag.memorize(documents: documents, cacheDir: cacheURL, progress: progress)
        }
        line.finish()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        let s = report.seconds
        print("memorized \(report.documents.joined(separator: ", ")) into \(cache): \(report.tokens) tokens, "
            + "\(report.mode.rawValue)\(report.ratio.map { " ratio \($0)" } ?? ""), \(report.memoryEntries) KV entries "
            + "per layer, \(report.chunks) passages, \(report.cacheBytes / 1_000_000) MB on disk")
        print(String(format: "time: %.1f s (memory %.1f, chunking %.2f, embedding %.1f, indexing %.2f, writing %.2f)",
                     s.total, s.compression, s.chunking, s.embedding, s.indexing, s.writing))
        if report.truncatedChunks > 0 {
            print("warning: \(report.truncatedChunks) passages are longer than the retriever reads; lower --chunk-tokens")
        }
    }
}

extension MemoryMode: ExpressibleByArgument {}
