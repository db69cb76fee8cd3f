import ArgumentParser
import Foundation
import Tokenizers

/// `memorag tokenizer …`: tokenizer tools.
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Tokenizer tools.", subcommands: [TokenizerTrainCommand.self])
}

/// `memorag tokenizer train --vocab-size N --out DIR FILES…`: a byte-level BPE tokenizer (GPT-2 style) trained on
/// UTF-8 text files, written as HF `tokenizer.json` + `tokenizer_config.json`.
struct TokenizerTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a byte-level BPE tokenizer on UTF-8 text files (writes HF tokenizer.json).",
        discussion: """
            Each line of each file is one training text, as in HF tokenizers' `Tokenizer.train(files)`. The \
            vocabulary holds the special tokens, the 256 byte symbols and one token per merge; ties between equally \
            frequent pairs go to the pair with the smallest (left id, right id), as in HF's BpeTrainer.
            """)

    @Option(name: .customLong("vocab-size"), help: "Vocabulary size, special tokens and the 256 byte symbols included.")
    var vocabSize: Int

    @Option(name: .customLong("out"), help: "Directory for tokenizer.json and tokenizer_config.json (created if needed).")
    var out: String

    @Option(name: .customLong("min-frequency"), help: "Stop when the most frequent pair occurs fewer times than this.")
    var minFrequency = 2

    @Option(name: .customLong("special-token"),
            help: "A special token (repeatable; ids from 0 in the order given). Default: <|endoftext|>.")
    var specialTokens: [String] = []

    @Option(name: .customLong("model-max-length"), help: "model_max_length to write into tokenizer_config.json.")
    var modelMaxLength: Int?

    @Flag(name: .customLong("quiet"), help: "No progress on stderr.")
    var quiet = false

    @Argument(help: "UTF-8 text files to train on.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("Give at least one text file to train on.") }
        if vocabSize <= 0 { throw ValidationError("--vocab-size must be positive.") }
        if minFrequency < 0 { throw ValidationError("--min-frequency must not be negative.") }
    }

    func run() throws {
        let specials = specialTokens.isEmpty ? ["<|endoftext|>"] : specialTokens
        let urls = files.map { URL(fileURLWithPath: $0) }
        var printer = ProgressPrinter(enabled: !quiet)
        let trained: TrainedBPE
        let start = Date()
        do {
            trained = try BPETrainer.train(files: urls, vocabSize: vocabSize, minFrequency: minFrequency,
                                           specialTokens: specials) { printer.show($0, files: files) }
        } catch let error as BPETrainerError {
            printer.finishLine()
            FileHandle.standardError.write(Data("error: \(error.localizedDescription)\n".utf8))
            throw ExitCode.failure
        }
        printer.finishLine()
        let seconds = Date().timeIntervalSince(start)
        let directory = URL(fileURLWithPath: out)
        try trained.write(to: directory, modelMaxLength: modelMaxLength)

        let stats = trained.statistics
        print("trained byte-level BPE on \(files.count) file(s): \(Self.megabytes(stats.bytes)) MB, "
              + "\(stats.texts) lines, \(stats.words) words (\(stats.uniqueWords) distinct)")
        print("vocabulary \(trained.vocabulary.count) of \(vocabSize) requested "
              + "(\(specials.count) special, 256 bytes, \(trained.merges.count) merges)"
              + (trained.vocabulary.count < vocabSize
                  ? "; stopped early: no pair occurs \(minFrequency) times or more" : ""))
        print(String(format: "took %.2f s", seconds))
        print("wrote \(directory.appendingPathComponent("tokenizer.json").path)")
        print("wrote \(directory.appendingPathComponent("tokenizer_config.json").path)")
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.2f", Double(bytes) / 1_048_576) }

    /// Progress on stderr: one line, rewritten in place on a terminal, else a line every few seconds.
    struct ProgressPrinter {
        let enabled: Bool
        let terminal = isatty(STDERR_FILENO) != 0
        var lastPrint = -Double.infinity
        var lastPhase: BPETrainer.Progress.Phase?
        var lastFile = 0
        var pending = false

        init(enabled: Bool) { self.enabled = enabled }

        mutating func show(_ progress: BPETrainer.Progress, files: [String]) {
            guard enabled else { return }
            let interval = terminal ? 0.2 : 5
            let phaseChanged = progress.phase != lastPhase
            let fileChanged = progress.phase == .counting && progress.file != lastFile
            guard phaseChanged || fileChanged || progress.elapsed - lastPrint >= interval || progress.phase == .done
            else { return }
            lastFile = progress.file
            if phaseChanged && lastPhase != nil { finishLine() }
            if progress.phase == .merging && mergingStart == nil { mergingStart = progress.elapsed }
            lastPhase = progress.phase
            lastPrint = progress.elapsed
            var line: String
            switch progress.phase {
            case .counting:
                let name = progress.file >= 1 && progress.file <= files.count ? files[progress.file - 1] : ""
                line = "reading file \(progress.file)/\(progress.files) \(name); so far "
                    + "\(TokenizerTrainCommand.megabytes(progress.bytes)) MB, \(progress.uniqueWords) distinct words"
            case .merging, .done:
                let fraction = progress.mergesTarget > 0 ? Double(progress.merges) / Double(progress.mergesTarget) : 1
                line = "merges \(progress.merges)/\(progress.mergesTarget) (\(Int(fraction * 100))%)"
                if progress.phase == .merging, progress.merges > 0, fraction > 0 {
                    let rate = (progress.elapsed - (mergingStart ?? 0)) / Double(progress.merges)
                    let eta = rate * Double(progress.mergesTarget - progress.merges)
                    line += String(format: ", ETA %.0f s", max(0, eta))
                }
            }
            line += String(format: " [%.1f s]", progress.elapsed)
            let text = terminal ? "\r\u{1B}[K" + line : line + "\n"
            FileHandle.standardError.write(Data(text.utf8))
            pending = terminal
        }

        /// When merging started (seconds since training started), for the ETA.
        var mergingStart: Double?

        mutating func finishLine() {
            if pending { FileHandle.standardError.write(Data("\n".utf8)) }
            pending = false
        }
    }
}
