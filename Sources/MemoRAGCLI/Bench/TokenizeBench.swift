import ArgumentParser
import Foundation
import Tokenizers

/// `memorag bench tokenize`: encoding throughput of our tokenizers vs HF `tokenizers` on the same text.
struct TokenizeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Tokenizer throughput (MB/s) vs HF tokenizers: SmolLM2 BPE and MiniLM WordPiece.")

    @Option(help: "UTF-8 text to encode (default: the trainer test corpus).") var file = PeerEnvironment.script("Tests/TokenizersTests/Fixtures/bpe_corpus.txt")
    @Option var rounds = 3
    @Option var repeats = 3
    @Option var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option var peerPython: String?
    @Flag var noPeer = false

    func run() throws {
        var contenders = [Contender(label: "ours", command: [Contender.selfExecutable, "bench", "tokenize-worker", "--file", file], isOurs: true)]
        if !noPeer {
            let python = try peerPython ?? PeerEnvironment.python()
            contenders.append(Contender(label: "hf tokenizers", command: [python, PeerEnvironment.script("Benchmarks/peer/hf_tokenize.py"), "--file", file], isOurs: false))
        }
        print("text: \(file)")
        let jobs = [(name: "smollm2", dtype: "-"), (name: "minilm", dtype: "-")]
        try InterleavedRun(jobs: jobs, contenders: contenders, rounds: rounds, repeats: repeats, threads: threads).run().printTable()
    }
}

struct TokenizeWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize-worker", shouldDisplay: false)

    @Option var `case`: String
    @Option var file: String
    @Option var dtype = "-"
    @Option var repeats = 3
    @Option var threads = 1

    func run() throws {
        let text = try InputText.read(file)
        let tokenizer: any Tokenizer
        switch `case` {
        case "smollm2": tokenizer = try loadTokenizer(directory: URL(fileURLWithPath: PeerEnvironment.script("checkpoints/memorag-smollm2-135m")))
        case "minilm": tokenizer = try loadTokenizer(directory: ModelPaths.defaultRetriever)
        default: throw ValidationError("unknown case '\(`case`)' (smollm2, minilm)")
        }
        let megabytes = Double(text.utf8.count) / 1e6
        _ = tokenizer.encode(text, addSpecialTokens: false)
        let clock = ContinuousClock()
        let values = (0..<repeats).map { _ in
            let start = clock.now
            _ = tokenizer.encode(text, addSpecialTokens: false)
            return megabytes / (clock.now - start).seconds
        }
        let result = WorkerResult(case: `case`, dtype: dtype, metric: "mb_per_s", values: values, impl: "memorag-swift",
                                     torch: "-", threads: threads, inner: 1)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}
