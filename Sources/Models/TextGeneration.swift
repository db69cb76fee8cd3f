import Foundation
import Tokenizers

/// Generation at the level of text: ids are decoded as they arrive, stop strings end the reply, and the caller
/// receives text that will not be taken back.
extension LanguageModel {
    public struct TextResult: Sendable {
        /// The reply, without the stop string that ended it.
        public var text: String
        public var generation: GenerationResult
        /// The stop string that ended generation, if one did.
        public var stopString: String?
    }

    /// Generates after `promptIds`. `onText` receives the reply in pieces (it may return false to stop); text that
    /// could still turn out to be the start of a stop string is held back until it is decided. With a beacon
    /// `memory` the model continues from it (and advances it), compressing the prompt as it reads it.
    public func generateText(
        promptIds: [Int], parameters: GenerationParameters, stopStrings: [String] = [], memory: BeaconMemory? = nil,
        onText: (String) -> Bool = { _ in true }
    ) throws -> TextResult {
        try decodeText(stopStrings: stopStrings, onText: onText) { onToken in
            if let memory {
                return try model.generate(promptIds: promptIds, parameters: parameters, memory: memory, onToken: onToken)
            }
            return try model.generate(promptIds: promptIds, parameters: parameters, onToken: onToken)
        }
    }

    /// The text side of any generation loop: `run` generates (continuing a KV cache, a beacon memory, …) and calls
    /// the token callback it is given; this turns the ids into text, applies `stopStrings` and streams to `onText`.
    public func decodeText(
        stopStrings: [String] = [], onText: (String) -> Bool = { _ in true },
        run: ((Int) -> Bool) throws -> GenerationResult
    ) throws -> TextResult {
        // `run` only calls its callback while it runs; the two non-escaping closures never outlive this call.
        try withoutActuallyEscaping(onText) { onText in
            try decodeText(stopStrings: stopStrings, escapingOnText: onText, run: run)
        }
    }

    private func decodeText(
        stopStrings: [String], escapingOnText onText: @escaping (String) -> Bool,
        run: ((Int) -> Bool) throws -> GenerationResult
    ) throws -> TextResult {
        let stops = stopStrings.filter { !$0.isEmpty }
        let holdBack = max(0, (stops.map(\.count).max() ?? 0) - 1)
        var decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: true)
        var text = ""
        var emitted = 0  // characters of `text` already handed to onText
        var hit: String?
        var keepGoing = true

        func emit(upTo end: Int) {
            guard end > emitted else { return }
            let start = text.index(text.startIndex, offsetBy: emitted)
            let stop = text.index(text.startIndex, offsetBy: end)
            keepGoing = onText(String(text[start..<stop])) && keepGoing
            emitted = end
        }

        var generation = try run { id in
            text += decoder.push(id)
            if let (stop, range) = firstStop(in: text, stops: stops, from: max(0, emitted - holdBack)) {
                hit = stop
                text = String(text[..<range.lowerBound])
                emit(upTo: text.count)
                return false
            }
            emit(upTo: max(emitted, text.count - holdBack))
            return keepGoing
        }
        if hit == nil {
            text += decoder.finish()
            if let (stop, range) = firstStop(in: text, stops: stops, from: max(0, emitted - holdBack)) {
                hit = stop
                text = String(text[..<range.lowerBound])
            }
            emit(upTo: text.count)
        }
        if hit != nil { generation.finishReason = .stopString }
        return TextResult(text: text, generation: generation, stopString: hit)
    }
}

/// The earliest stop string in `text` at or after character `offset`.
private func firstStop(in text: String, stops: [String], from offset: Int) -> (String, Range<String.Index>)? {
    guard !stops.isEmpty, offset < text.count else { return nil }
    let start = text.index(text.startIndex, offsetBy: offset)
    var best: (String, Range<String.Index>)?
    for stop in stops {
        if let range = text.range(of: stop, range: start..<text.endIndex),
           best == nil || range.lowerBound < best!.1.lowerBound {
            best = (stop, range)
        }
    }
    return best
}
