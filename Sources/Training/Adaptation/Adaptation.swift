import Datasets
import Foundation
import Models
import Tokenizers
import Torch

/// `memorag adapt`: adapts a memory model to a folder of documents, as a chain of resumable stages in one run dir —
///
/// 1. `prepare`: split the domain by document (`DomainCorpus`), write the pieces under `data/`, tokenise them into
///    `data/pretrain.h5` (held-out text stored as validation documents only);
/// 2. `clues`: the starting model writes clue examples (`ClueSynthesis`) for window-sized contexts of the training
///    text, and a few of the held-out text, as `data/clues*.jsonl`;
/// 3. `sft-data`: those as SFT stores (`data/sft*.h5`);
/// 4. `evaluate-before`: held-out loss (full attention vs beacon compression, `CompressionEvaluation`; held-out
///    clue replies) and held-out evidence retrieval (the model's clues vs the question alone,
///    `ClueRetrievalEvaluation`) of the starting model;
/// 5. `pretrain`, 6. `sft`, 7. `clue-feedback`: short `beacon-pretrain`, `sft` and `clue-feedback` runs (their
///    recipes with the config's budgets), each starting from the previous one's last checkpoint;
/// 8. `export`: the result as a beacon-only delta in `model/` (like the shipped model; `LanguageModel.load` reads it);
/// 9. `evaluate-after`: the same measurements on the exported model.
///
/// A finished stage is recorded in `state.json` and skipped when the run is started again; the training stages
/// resume from their newest checkpoint, so a killed run continues where it stopped. A re-run with other settings
/// or other documents is refused (its results would mix). The report goes to `report.json` and `report.md`.
public final class Adaptation {
    public enum Stage: String, CaseIterable, Sendable {
        case prepare, clues, sftData = "sft-data", evaluateBefore = "evaluate-before", pretrain, sft
        case feedback = "clue-feedback", export
        case evaluateAfter = "evaluate-after"
    }

    public enum Event {
        case started(Stage)
        case skipped(Stage, reason: String)
        case finished(Stage, seconds: Double, note: String)
        /// A line of progress inside a stage (documents read, evaluation rows, …).
        case note(String)
        case clue(ClueSynthesis.Progress)
        case training(Stage, TrainingEvent)
    }

    /// Everything of a run inside its directory.
    public struct Layout: Sendable {
        public let root: URL
        public init(root: URL) { self.root = root }
        public var state: URL { root.appendingPathComponent("state.json") }
        public var config: URL { root.appendingPathComponent("adapt.yaml") }
        public var data: URL { root.appendingPathComponent("data") }
        public var trainingText: URL { data.appendingPathComponent("train") }
        public var heldOutText: URL { data.appendingPathComponent("held-out") }
        public var tokenizer: URL { data.appendingPathComponent("tokenizer") }
        public var tokenStore: URL { data.appendingPathComponent("pretrain.h5") }
        public var clues: URL { data.appendingPathComponent("clues.jsonl") }
        public var heldOutClues: URL { data.appendingPathComponent("clues-held-out.jsonl") }
        public var sftStore: URL { data.appendingPathComponent("sft.h5") }
        public var heldOutSFTStore: URL { data.appendingPathComponent("sft-held-out.h5") }
        public var pretrainRun: URL { root.appendingPathComponent("pretrain") }
        public var sftRun: URL { root.appendingPathComponent("sft") }
        public var feedbackRun: URL { root.appendingPathComponent("clue-feedback") }
        public var model: URL { root.appendingPathComponent("model") }
        public var reportJSON: URL { root.appendingPathComponent("report.json") }
        public var reportMarkdown: URL { root.appendingPathComponent("report.md") }
    }

    /// Makes the question writer from the loaded starting model (default: `ClueQuestionWriter`).
    public typealias WriterFactory = (LanguageModel, AdaptationConfig.Clues) throws -> ClueSynthesis.QuestionWriter

    struct State: Codable {
        var fingerprint: String
        var completed: [String]
        var report: AdaptationReport
    }

    public let corpus: DomainCorpus
    public let config: AdaptationConfig
    public let model: URL
    public let layout: Layout
    let configDirectory: URL
    let makeWriter: WriterFactory
    var state: State
    private var startModel: LanguageModel?

    /// `configFile` is where `config` was read (stage recipes are found relative to it); `model` the model to adapt.
    public init(corpus: DomainCorpus, config: AdaptationConfig, configFile: URL, model: URL, output: URL,
                questionWriter: WriterFactory? = nil) throws {
        self.corpus = corpus
        self.config = config
        self.model = model
        layout = Layout(root: output)
        configDirectory = configFile.deletingLastPathComponent()
        makeWriter = questionWriter ?? { lm, clues in
            try ClueQuestionWriter.make(model: lm, maxNewTokens: clues.maxNewTokens, temperature: clues.temperature)
        }
        guard FileManager.default.fileExists(atPath: model.path) else {
            throw TrainingError.invalidModel(path: model.path, reason: "no such file or directory (the model to adapt)")
        }
        let yaml = try config.yaml()
        let fingerprint = SHA256.hex([yaml, model.standardizedFileURL.path, corpus.fingerprint].joined(separator: "\n"))
        let fm = FileManager.default
        if let data = fm.contents(atPath: layout.state.path) {
            guard let saved = try? JSONDecoder().decode(State.self, from: data) else {
                throw AdaptationError.runDirectory(path: layout.state.path, reason: "is not the state of an adapt run")
            }
            guard saved.fingerprint == fingerprint else {
                throw AdaptationError.runDirectory(path: output.path, reason: "was made from other documents, model or "
                                                   + "settings; give a new --out, or delete it to start over")
            }
            state = saved
        } else {
            if let entries = try? fm.contentsOfDirectory(atPath: output.path), !entries.isEmpty {
                throw AdaptationError.runDirectory(path: output.path, reason: "is not empty and not an adapt run dir")
            }
            try fm.createDirectory(at: output, withIntermediateDirectories: true)
            try DurableFile.write(Data(yaml.utf8), to: layout.config)
            state = State(fingerprint: fingerprint, completed: [], report: AdaptationReport(
                model: model.path, exported: nil, data: nil, before: nil, after: nil, pretrainSteps: 0, sftSteps: 0,
                stages: []))
            try saveState()
        }
    }

    /// Runs the stages not yet complete and returns the report (also written as report.json and report.md).
    @discardableResult
    public func run(progress: (Event) -> Void = { _ in }) throws -> AdaptationReport {
        if let threads = config.threads { try LibTorch.setNumThreads(threads) }
        for stage in Stage.allCases {
            if state.completed.contains(stage.rawValue) {
                progress(.skipped(stage, reason: "already complete"))
                continue
            }
            progress(.started(stage))
            let clock = ContinuousClock(), start = clock.now
            let note = try perform(stage, progress: progress)
            let seconds = (clock.now - start).seconds
            state.completed.append(stage.rawValue)
            state.report.stages.append(.init(stage: stage.rawValue, seconds: seconds, note: note))
            try saveState()
            progress(.finished(stage, seconds: seconds, note: note))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try encoder.encode(state.report), to: layout.reportJSON)
        try DurableFile.write(Data(state.report.markdown().utf8), to: layout.reportMarkdown)
        return state.report
    }

    private func saveState() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try encoder.encode(state), to: layout.state)
    }

    private func perform(_ stage: Stage, progress: (Event) -> Void) throws -> String {
        switch stage {
        case .prepare: return try prepare(progress: progress)
        case .clues: return try synthesizeClues(progress: progress)
        case .sftData: return try buildSFTStores()
        case .evaluateBefore:
            let measurement = try measure(try loadStartModel(), progress: progress)
            state.report.before = measurement
            return Self.summary(measurement)
        case .pretrain, .sft, .feedback: return try train(stage, progress: progress)
        case .export: return try export()
        case .evaluateAfter:
            guard let exported = state.report.exported else { return "nothing was trained" }
            let measurement = try measure(try LanguageModel.load(URL(fileURLWithPath: exported), dtype: dtype,
                                                                 device: device),
                                          progress: progress)
            state.report.after = measurement
            return Self.summary(measurement)
        }
    }

    var dtype: DType { config.dtype == "bf16" ? .bfloat16 : .float32 }

    /// Where the evaluations run (the stages resolve the same choice through their recipes).
    var device: Device {
        get throws { try DeviceChoice(parsing: config.device ?? "auto").resolve() }
    }

    func loadStartModel() throws -> LanguageModel {
        if let startModel { return startModel }
        let lm = try LanguageModel.load(model, dtype: dtype, device: device)
        if lm.model.config.beacon == nil { try lm.model.addBeacon(.memoryModelDefault) }
        startModel = lm
        return lm
    }
}

extension CheckpointStore {
    /// The newest complete checkpoint of a run dir, nil when there is none (or no dir).
    static func newestIfPresent(_ directory: URL) -> URL? {
        guard FileManager.default.fileExists(atPath: directory.path) else { return nil }
        return (try? CheckpointStore(directory: directory))?.newest()?.url
    }
}

/// A run dir that cannot be used for this adaptation.
public enum AdaptationError: Error, LocalizedError, Equatable {
    case runDirectory(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .runDirectory(let path, let reason): return "\(path) \(reason)"
        }
    }
}
