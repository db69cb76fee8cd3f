import Foundation

/// What `memorag adapt` measured and did, saved as `RUN_DIR/report.json` and `report.md`: held-out LM loss with
/// full attention and with beacon compression before and after adaptation, the held-out clue loss, the data and
/// the wall time of each stage.
public struct AdaptationReport: Codable, Sendable, Equatable {
    /// Loss of the model on the held-out text (and held-out clue examples) at one moment.
    public struct Measurement: Codable, Sendable, Equatable {
        public var compression: [CompressionEvaluation.Row]
        /// Mean loss per reply token over held-out clue examples (beacon memory of the context); nil without any.
        public var clueLoss: Double?
        public var clueTokens: Int?
        /// Held-out evidence retrieval with the model's clues and by the question alone; nil when not measured.
        public var retrieval: ClueRetrievalEvaluation.Result?

        enum CodingKeys: String, CodingKey {
            case compression, retrieval, clueLoss = "clue_loss", clueTokens = "clue_tokens"
        }
    }

    public struct Data: Codable, Sendable, Equatable {
        public var trainingDocuments: [String]
        public var heldOutDocuments: [String]
        public var trainingTokens: Int
        public var heldOutTokens: Int
        public var clueExamples: Int
        public var heldOutClueExamples: Int
        public var acceptedPassages: Int
        public var rejectedPassages: Int

        enum CodingKeys: String, CodingKey {
            case trainingDocuments = "training_documents", heldOutDocuments = "held_out_documents"
            case trainingTokens = "training_tokens", heldOutTokens = "held_out_tokens", clueExamples = "clue_examples"
            case heldOutClueExamples = "held_out_clue_examples", acceptedPassages = "accepted_passages"
            case rejectedPassages = "rejected_passages"
        }
    }

    public struct StageTime: Codable, Sendable, Equatable {
        public var stage: String
        public var seconds: Double
        /// What the stage did, or why it did nothing.
        public var note: String
    }

    public var model: String
    public var exported: String?
    public var data: Data?
    public var before: Measurement?
    public var after: Measurement?
    public var pretrainSteps: Int
    public var sftSteps: Int
    public var feedbackSteps: Int?
    public var stages: [StageTime]

    enum CodingKeys: String, CodingKey {
        case model, exported, data, before, after, stages
        case pretrainSteps = "pretrain_steps", sftSteps = "sft_steps", feedbackSteps = "feedback_steps"
    }

    public var totalSeconds: Double { stages.reduce(0) { $0 + $1.seconds } }

    public func markdown() -> String {
        var lines = ["# Domain adaptation of \(model)", ""]
        if let data {
            lines.append("Training text: \(data.trainingDocuments.count) document(s), \(data.trainingTokens) tokens; held out "
                + "(never trained on): \(data.heldOutDocuments.joined(separator: ", ")), \(data.heldOutTokens) tokens. "
                + "Clue examples: \(data.clueExamples) for training, \(data.heldOutClueExamples) held out "
                + "(\(data.acceptedPassages) passages accepted, \(data.rejectedPassages) rejected).")
            lines.append("")
        }
        lines.append("Beacon pretraining \(pretrainSteps) steps, clue SFT \(sftSteps) steps, clue feedback "
            + "\(feedbackSteps ?? 0) steps"
            + (exported.map { "; adapted model: `\($0)`" } ?? "") + ".")
        lines += ["", "| held-out loss | before | after | change |", "|---|---|---|---|"]
        let beforeRows = before?.compression ?? [], afterRows = after?.compression ?? []
        for row in beforeRows.isEmpty ? afterRows : beforeRows {
            let other = afterRows.first { $0.ratio == row.ratio }
            let old = beforeRows.first { $0.ratio == row.ratio }
            lines.append("| \(row.ratio.map { "beacon r=\($0)" } ?? "full attention") | \(Self.cell(old?.loss)) | "
                + "\(Self.cell(other?.loss)) | \(Self.change(old?.loss, other?.loss)) |")
        }
        if before?.clueLoss != nil || after?.clueLoss != nil {
            lines.append("| clue replies (held-out clue examples) | \(Self.cell(before?.clueLoss)) | \(Self.cell(after?.clueLoss)) | "
                + "\(Self.change(before?.clueLoss, after?.clueLoss)) |")
        }
        if let r = before?.retrieval ?? after?.retrieval {
            lines += ["", "Held-out evidence retrieval: \(r.questions) questions of the held-out clue examples, each asked "
                + "over its whole held-out document; the share whose evidence passage is among the \(r.topK) passages "
                + "retrieved (mean reciprocal rank in brackets). The question alone is the same retriever without clues.",
                "", "| held-out retrieval | before | after |", "|---|---|---|"]
            func cell(_ r: ClueRetrievalEvaluation.Result?, _ clues: Bool) -> String {
                guard let r else { return "—" }
                return String(format: "%.3f (%.3f)", clues ? r.withCluesRecall : r.questionAloneRecall,
                              clues ? r.withCluesMRR : r.questionAloneMRR)
            }
            lines.append("| with the model's clues | \(cell(before?.retrieval, true)) | \(cell(after?.retrieval, true)) |")
            lines.append("| question alone | \(cell(before?.retrieval, false)) | \(cell(after?.retrieval, false)) |")
        }
        lines += ["", "| stage | wall time | what |", "|---|---|---|"]
        for stage in stages { lines.append("| \(stage.stage) | \(Self.clock(stage.seconds)) | \(stage.note) |") }
        lines.append("| total | \(Self.clock(totalSeconds)) | |")
        return lines.joined(separator: "\n") + "\n"
    }

    static func cell(_ loss: Double?) -> String {
        guard let loss else { return "—" }
        return String(format: "%.4f (ppl %.1f)", loss, exp(loss))
    }

    static func change(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b else { return "—" }
        return String(format: "%+.4f", b - a)
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }
}
