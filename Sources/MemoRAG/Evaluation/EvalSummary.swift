import Foundation

/// Means over an evaluation's rows: answer scores, evidence recall of each retrieval variant at the pipeline's
/// passage count and along the recall@k curves, the same per question type, and latency.
public struct EvalSummary: Codable, Sendable {
    public struct Group: Codable, Sendable {
        public var questions: Int
        public var f1: Double
        public var rougeL: Double
        /// Mean of the rows' `f1Ceiling`: the F1 a reader copying the best span of its evidence would reach.
        public var f1Ceiling: Double
        /// Mean recall per variant over the questions with gold passages (a variant a question lacks counts 0:
        /// no clue of that kind found nothing); a variant no question had (a clue kind not asked for) is absent.
        public var recall: [String: Double]
        public var passages: Double

        enum CodingKeys: String, CodingKey {
            case questions, f1, recall, passages
            case rougeL = "rouge_l"
            case f1Ceiling = "f1_ceiling"
        }
    }

    public var settings: String
    public var all: Group
    public var byType: [String: Group]
    /// Mean recall@k per variant at `RetrievalComparison.depths`.
    public var curves: [String: [Double]]
    public var depths: [Int]
    /// Seconds: ask p50 and p90, and the p50 of each stage.
    public var latency: [String: Double]
    /// The pipeline's recall minus each baseline's (`query`: the question alone searched as the pipeline searches;
    /// `query_dense`: plain RAG), question by question, with a bootstrap interval.
    public var gaps: [String: PairedDifference]

    /// The baselines `gaps` holds.
    public static let baselines: [RetrievalComparison.Variant] = [.query, .queryDense]

    enum CodingKeys: String, CodingKey {
        case settings, all, curves, depths, latency, gaps
        case byType = "by_type"
    }

    public init(rows: [EvalRow], settings: String) {
        self.settings = settings
        all = Self.group(rows)
        byType = Dictionary(grouping: rows.filter { $0.type != nil }, by: { $0.type! }).mapValues(Self.group)
        depths = RetrievalComparison.depths
        let compared = rows.compactMap(\.retrieval)
        curves = [:]
        for variant in RetrievalComparison.Variant.allCases where compared.contains(where: { $0.curves[variant] != nil }) {
            curves[variant.rawValue] = depths.indices.map { k in
                compared.map { $0.curves[variant]?[k] ?? 0 }.reduce(0, +) / Double(compared.count)
            }
        }
        gaps = [:]
        for baseline in Self.baselines where compared.contains(where: { $0.recall[baseline] != nil }) {
            gaps[baseline.rawValue] = PairedDifference(compared.map { ($0.recall[.pipeline] ?? 0) - ($0.recall[baseline] ?? 0) })
        }
        let timings = rows.map(\.result.timings)
        latency = [
            "ask_p50": Self.quantile(timings.map(\.total), 0.5), "ask_p90": Self.quantile(timings.map(\.total), 0.9),
            "recall_p50": Self.quantile(timings.map(\.recall), 0.5),
            "retrieve_p50": Self.quantile(timings.map(\.retrieve), 0.5),
            "generate_p50": Self.quantile(timings.map(\.generate), 0.5),
        ]
    }

    private static func group(_ rows: [EvalRow]) -> Group {
        let n = Double(max(rows.count, 1))
        let compared = rows.compactMap(\.retrieval)
        var recall: [String: Double] = [:]
        if !compared.isEmpty {
            for variant in RetrievalComparison.Variant.allCases where compared.contains(where: { $0.recall[variant] != nil }) {
                recall[variant.rawValue] = compared.map { $0.recall[variant] ?? 0 }.reduce(0, +) / Double(compared.count)
            }
        }
        return Group(questions: rows.count, f1: rows.map(\.f1).reduce(0, +) / n,
                     rougeL: rows.map(\.rougeL).reduce(0, +) / n, f1Ceiling: rows.map(\.f1Ceiling).reduce(0, +) / n,
                     recall: recall,
                     passages: compared.isEmpty ? 0 : Double(compared.map(\.passages).reduce(0, +)) / Double(compared.count))
    }

    static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
    }

    /// The summary as Markdown tables: overall and per type (F1, ROUGE-L, the F1 ceiling of the evidence, recall of each variant at the same
    /// passage count), the recall@k curves, and latency.
    public var table: String {
        let variants = RetrievalComparison.Variant.allCases.map(\.rawValue)
        func row(_ name: String, _ group: Group) -> String {
            let cells = [name, "\(group.questions)", String(format: "%.3f", group.f1), String(format: "%.3f", group.rougeL),
                         String(format: "%.3f", group.f1Ceiling), String(format: "%.1f", group.passages)]
                + variants.map { group.recall[$0].map { String(format: "%.3f", $0) } ?? "–" }
            return "| " + cells.joined(separator: " | ") + " |"
        }
        var lines = ["settings: \(settings)", "",
                     "| questions | n | F1 | ROUGE-L | F1 ceiling | passages | "
                        + variants.map { "recall: \($0)" }.joined(separator: " | ") + " |",
                     "|" + String(repeating: "---|", count: 6 + variants.count)]
        lines.append(row("all", all))
        for type in byType.keys.sorted() { lines.append(row(type, byType[type]!)) }
        lines += ["", "| recall@k | " + depths.map(String.init).joined(separator: " | ") + " |",
                  "|" + String(repeating: "---|", count: 1 + depths.count)]
        for variant in variants { if let curve = curves[variant] {
            lines.append("| \(variant) | " + curve.map { String(format: "%.3f", $0) }.joined(separator: " | ") + " |")
        } }
        if !gaps.isEmpty { lines.append("") }
        for baseline in Self.baselines { if let gap = gaps[baseline.rawValue] {
            lines.append("pipeline − \(baseline.rawValue) (recall, 95% paired bootstrap): \(gap.description)")
        } }
        lines += ["", String(format: "ask p50 %.2f s, p90 %.2f s (recall %.2f s, retrieve %.2f s, generate %.2f s at p50)",
                             latency["ask_p50"] ?? 0, latency["ask_p90"] ?? 0, latency["recall_p50"] ?? 0,
                             latency["retrieve_p50"] ?? 0, latency["generate_p50"] ?? 0)]
        return lines.joined(separator: "\n")
    }
}
