import Foundation
import Tokenizers

extension ClueSynthesis {
    /// One context to write clue examples for: a window-sized piece of a document (see `contexts(of:maxTokens:)`),
    /// with the seed that picks its passages and seeds its sampling.
    public struct Context: Sendable {
        /// Names the document in the JSONL (`source`) and in errors.
        public var source: String
        public var text: String
        public var seed: UInt64
        /// Its place among the document's contexts (names it in a run's progress file).
        public var index: Int

        public init(source: String, text: String, seed: UInt64, index: Int = 0) {
            self.source = source
            self.text = text
            self.seed = seed
            self.index = index
        }
    }

    /// The model that writes questions: chat messages and a sampling seed in, the reply's text out.
    public typealias QuestionWriter = (_ messages: [ChatMessage], _ seed: UInt64) throws -> String

    public struct Batch: Sendable {
        /// JSONL lines for `data sft` (per context with examples: its declaration, then its examples).
        public var lines: [String]
        public var examples: Int
        /// Contexts that gave at least one example.
        public var contexts: Int
        public var accepted: Int
        public var rejected: Int

        /// The lines as a JSONL file's bytes.
        public var jsonl: Data { Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8) }
    }

    /// Runs `synthesize(document:…)` over each context with `write` as the model (request i of a context is sampled
    /// with seed `context.seed · 1000003 + i`) and collects the JSONL lines of the contexts that gave examples.
    public static func synthesize(contexts: [Context], options: Options, prompts: PromptSet, write: QuestionWriter,
                                  progress: (Progress) -> Void = { _ in }) throws -> Batch {
        var batch = Batch(lines: [], examples: 0, contexts: 0, accepted: 0, rejected: 0)
        var options = options
        for context in contexts {
            options.seed = context.seed
            let examples = try synthesize(document: context.text, source: context.source, options: options) { messages, i in
                try write(messages, context.seed &* 1_000_003 &+ UInt64(i))
            } progress: { event in
                switch event {
                case .accepted: batch.accepted += 1
                case .rejected: batch.rejected += 1
                case .vagueRejected: break
                }
                progress(event)
            }
            guard !examples.isEmpty else { continue }
            let lines = try jsonLines(examples: examples, document: context.text, source: context.source, prompts: prompts)
            batch.lines += lines
            batch.examples += lines.count - 1
            batch.contexts += 1
        }
        return batch
    }
}
