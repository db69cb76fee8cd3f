import Foundation
import Models
import Torch

/// How much a beacon memory costs in language-modelling quality: the mean next-token loss on held-out text with
/// full attention (no compression; the beacon parameters unused) against the loss with beacon compression at each
/// ratio (every window but the last compressed, the last read raw after the memory) — the model card's table.
public enum CompressionEvaluation {
    public struct Row: Sendable, Equatable, Codable {
        /// nil for full attention.
        public var ratio: Int?
        public var loss: Double
        public var tokens: Int
        public var perplexity: Double { exp(loss) }
    }

    /// `segments` windows of `length` tokens taken evenly from `ids`; the mean loss over all of them, per setting.
    public static func run(model: DecoderLM, ids: [Int], length: Int, segments: Int, ratios: [Int],
                           progress: ((String) -> Void)? = nil) throws -> [Row] {
        guard ids.count >= length, length >= 2, segments >= 1 else {
            throw ModelError.invalidInput("need at least \(length) tokens of text for one segment, got \(ids.count)")
        }
        let gap = segments > 1 ? (ids.count - length) / (segments - 1) : 0
        let starts = (0..<segments).map { $0 * gap }
        var rows: [Row] = []
        try withNoGrad {
            var sum = 0.0, count = 0
            for start in starts {
                let piece = Array(ids[start..<start + length])
                let input = try Tensor(piece.dropLast().map(Int64.init), shape: [1, length - 1])
                let targets = try Tensor(piece.dropFirst().map(Int64.init), shape: [length - 1], device: model.device)
                let logits = try model(input).squeeze(0).to(.float32)
                sum += try Functional.crossEntropy(logits, targets: targets, reduction: .sum).item()
                count += length - 1
            }
            rows.append(Row(ratio: nil, loss: sum / Double(count), tokens: count))
            progress?("full attention: \(String(format: "%.4f", sum / Double(count)))")
            for ratio in ratios {
                var sum = 0.0, count = 0
                for start in starts {
                    let piece = Array(ids[start..<start + length])
                    let (mean, valid) = try model.beaconLoss(inputIds: piece, rule: .fixed(ratio))
                    sum += try mean.item() * Double(valid)
                    count += valid
                }
                rows.append(Row(ratio: ratio, loss: sum / Double(count), tokens: count))
                progress?("ratio \(ratio): \(String(format: "%.4f", sum / Double(count)))")
            }
        }
        return rows
    }
}
