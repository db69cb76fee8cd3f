import ArgumentParser
import Foundation
import MemoRAG
import Server

/// `memorag serve`: the HTTP API over one set of loaded models.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve memories over HTTP: memorize jobs, asks, and an OpenAI-compatible /v1/chat/completions.",
        discussion: """
            Examples:
              memorag serve --data-dir ~/memorag-data
              memorag serve --host 0.0.0.0 --api-key-file ~/.memorag-key --max-concurrent 1 --max-queued 16
            Then:
              curl -s localhost:8080/v1/memories -H 'content-type: text/plain' --data-binary @book.txt
              curl -s localhost:8080/v1/memories/mem_…/ask -d '{"query": "Who is the narrator?"}'
            The API is described at /openapi.json. SIGTERM/SIGINT stop it gracefully.
            """)

    @Option(help: "Address to listen on (without --api-key-file only loopback is allowed).") var host = "127.0.0.1"
    @Option(help: "Port (0 picks a free one).") var port = 8080
    @Option(help: "Where memories are kept (DATA/memories/<id>, the cache-dir format).") var dataDir = "memorag-data"
    @Option(help: "A file whose first line is the bearer token clients must send.") var apiKeyFile: String?
    @Flag(help: "Listen beyond loopback without an API key.") var allowUnauthenticatedRemote = false
    @Option(help: "Requests using the models at once.") var maxConcurrent = 1
    @Option(help: "Requests waiting for the models before new ones get 429.") var maxQueued = 8
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 8 << 20
    @Option(help: "Longest query in tokens.") var maxQueryTokens = 1024
    @Option(help: "Memory mode of new memories: beacon, lite or longllm.") var mode: MemoryMode = .beacon
    @Option(help: "Beacon compression ratio (default: the smallest that fits).") var ratio: Int?
    @Option(help: "Passage size in retriever tokens (default: the retriever's limit).") var chunkTokens: Int?
    @Option(help: "Default answer length in tokens (default: 32 for a copied answer, 256 for free text).") var answerTokens: Int?
    @Option(help: "Clue length in tokens.") var clueTokens: Int?
    @OptionGroup var options: PipelineOptions
    @OptionGroup var generatorOptions: GeneratorOptions

    func run() async throws {
        var pipeline = try options.configuration()
        pipeline.mode = mode
        pipeline.ratio = ratio
        pipeline.chunkTokens = chunkTokens
        if let answerTokens { pipeline.answerTokens = answerTokens }
        if let clueTokens { pipeline.clueTokens = clueTokens }
        pipeline.generator = try generatorOptions.choice()
        var configuration = ServerConfiguration(dataDir: URL(fileURLWithPath: dataDir))
        configuration.host = host
        configuration.port = port
        configuration.apiKey = try apiKeyFile.map { try ServerError.readKey(at: URL(fileURLWithPath: $0)) }
        configuration.allowUnauthenticatedRemote = allowUnauthenticatedRemote
        configuration.maxConcurrent = maxConcurrent
        configuration.maxQueued = maxQueued
        configuration.maxBodyBytes = maxBodyBytes
        configuration.maxQueryTokens = maxQueryTokens
        try configuration.validate()  // before the models load, so a refused setup fails fast
        let models = try MemoRAGModels(configuration: pipeline)
        announcePrecision(models)
        let server = try MemoragServer(configuration: configuration, models: models)
        let banner = "(data: \(configuration.dataDir.path), auth: \(configuration.apiKey == nil ? "off" : "bearer"))"
        let host = self.host
        try await server.run { port in
            // One line a supervisor (or a test) can read the bound port from.
            FileHandle.standardOutput.write(Data("memorag serve: listening on http://\(host):\(port) \(banner)\n".utf8))
        }
        print("memorag serve: stopped")
    }
}
