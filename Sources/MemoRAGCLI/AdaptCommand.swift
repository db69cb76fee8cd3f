import ArgumentParser
import Datasets
import Foundation
import Torch
import Training

/// `memorag adapt DIR --out RUN_DIR`: the shipped memory model adapted to a folder of documents (see `Adaptation`).
struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Adapt the memory model to a folder of .txt/.md documents: clue data, beacon pretraining, clue SFT and feedback.",
        discussion: """
            Splits the documents into training and held-out text (whole documents; a single document holds out its \
            last paragraphs), writes clue examples with the starting model, runs a short beacon pretraining, clue \
            SFT and clue training on retrieval feedback (recipes/adapt.yaml sets the budgets; key=value overrides as \
            in `memorag train`), exports the result as a beacon delta in RUN_DIR/model, and reports before and after \
            the held-out loss and how often the model's clues find the evidence of held-out questions against the \
            question alone (RUN_DIR/report.md). \
            Run the same command again to continue a stopped run: finished stages are skipped, training resumes.
            Example: memorag adapt ~/my-docs --out runs/adapt-my-docs pretrain.max_steps=30
            """)

    @Argument(help: "Folder of UTF-8 .txt/.md documents (searched recursively).") var directory: String
    @Option(help: "Run directory (data, checkpoints, model/, report).") var out: String
    @Option(help: "Model to adapt (default: the shipped memory model checkpoints/memorag-smollm2-135m).") var model: String?
    @Option(help: "Adaptation config (default: recipes/adapt.yaml).") var recipe: String?
    @OptionGroup var deviceOption: DeviceOption
    @Argument(help: "Overrides of the config: key=value (dotted keys) or ~key.") var overrides: [String] = []

    func run() throws {
        let file = recipe.map { URL(fileURLWithPath: $0) }
            ?? RecipesCommand.directory(nil).appendingPathComponent("adapt.yaml")
        var config = try AdaptationConfig.load(file: file, overrides: overrides)
        if deviceOption.device != nil { config.device = try deviceOption.choice().description }
        let choice = try DeviceChoice(parsing: config.device ?? "auto")
        announceDevice(try choice.resolve(), choice: choice)
        let modelURL = model.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
            ?? config.model?.path.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
            ?? ModelPaths.shippedMemoryModel
        let corpus = try reportingErrors { try DomainCorpus(directory: URL(fileURLWithPath: directory)) }
        print("adapting \(modelURL.path) to \(corpus.documents.count) document(s) of \(directory) in \(out)")
        let adaptation = try Adaptation(corpus: corpus, config: config, configFile: file, model: modelURL,
                                        output: URL(fileURLWithPath: out))
        let report = try reportingErrors {
            try adaptation.run { event in
                switch event {
                case .started(let stage): print("== \(stage.rawValue)")
                case .skipped(let stage, let reason): print("== \(stage.rawValue): \(reason)")
                case .finished(let stage, let seconds, let note):
                    print(String(format: "== %@ done in %.0f s: %@", stage.rawValue, seconds, note))
                case .note(let line): print("   \(line)")
                case .clue(.accepted(let e)): print("   + \(e.question)")
                case .clue(.rejected(let why, let q)): print("   - (\(why.rawValue)) \(q.prefix(100))")
                case .clue(.vagueRejected): break
                case .training(_, let event): printTraining(event)
                }
            }
        }
        print("")
        print(report.markdown(), terminator: "")
        print("wrote \(adaptation.layout.reportMarkdown.path) and report.json")
    }

    private func printTraining(_ event: TrainingEvent) {
        switch event {
        case .resumed(let step, let url, _): print("   resumed at step \(step) from \(url.path)")
        case .step(let m):
            print(String(format: "   step %d/%d  loss %.4f  lr %.3g  %.0f input tok/s  elapsed %.0f s", m.step, m.maxSteps,
                         m.loss, m.lr, m.inputTokensPerSecond, m.elapsed))
        case .validation(let step, let loss, _): print(String(format: "   step %d  validation loss %.4f", step, loss))
        case .checkpoint(let step, let url): print("   step \(step): checkpoint \(url.path)")
        case .skippedCheckpoint(let name, let reason): print("   not resuming from \(name): \(reason)")
        case .resharded(let from, let to): print("   resumed a \(from)-rank checkpoint on \(to) rank(s), data re-sharded")
        case .untrainableSamples(let step, let count):
            print("   step \(step): \(count) sample(s) gave no gradient (each fits in one beacon window)")
        case .feedback(let p):
            print(String(format: "   feedback round %d/%d: %d/%d questions scored, %d missed their evidence alone, %d kept",
                         p.round, p.rounds, p.scored, p.total, p.eligible, p.kept))
        case .feedbackRound(let r):
            print(String(format: "   feedback round %d: %d of %d eligible questions kept, mean RR gain of the best set "
                         + "%.3f; scored in %.0f s", r.round, r.kept, r.eligible, r.meanBestGain, r.scoringSeconds))
        }
    }

    /// Data errors (bad files in the folder, evaluation books) as one line and exit status 1.
    private func reportingErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DataError {
            FileHandle.standardError.write(Data("error: \(error.localizedDescription)\n".utf8))
            throw ExitCode.failure
        }
    }
}
