import Foundation

/// Restricts a reply to one contiguous span copied from given token sequences (e.g. the retrieved passages), so a
/// small model that cannot be trusted to stay on the text still answers with words of the text: at each step only
/// the tokens that extend the reply to a longer span of some source may be chosen, and a stop token may end it once
/// it holds `minimumTokens`. The model still chooses where the span starts and how long it runs, by its own logits.
public struct SpanCopyConstraint: Sendable {
    public let sources: [[Int]]
    /// Ids that end the reply; allowed only after `minimumTokens` ids.
    public let stopTokenIds: Set<Int>
    public let minimumTokens: Int
    /// Source positions where a span may start (per source; nil: everywhere). Starting inside a word gives
    /// answers like "ORINK ME", so callers pass the positions that begin a word.
    public let starts: [[Bool]]?

    public init(sources: [[Int]], stopTokenIds: Set<Int>, minimumTokens: Int = 1, starts: [[Bool]]? = nil) {
        precondition(starts == nil || starts!.map(\.count) == sources.map(\.count), "one start flag per source token")
        self.sources = sources
        self.stopTokenIds = stopTokenIds
        self.minimumTokens = max(1, minimumTokens)
        self.starts = starts
    }

    /// The ids that may follow `reply` (the ids generated so far). Empty only when no source has a token.
    public func allowed(after reply: [Int]) -> Set<Int> {
        var next = Set<Int>()
        for (s, source) in sources.enumerated() where source.count > reply.count {
            // Every end position p such that source[p - reply.count ..< p] == reply and source[p] exists.
            for start in 0...(source.count - reply.count - 1) {
                if let starts, !starts[s][start] { continue }
                if reply.isEmpty || source[start..<(start + reply.count)].elementsEqual(reply) {
                    next.insert(source[start + reply.count])
                }
            }
        }
        if reply.count >= minimumTokens || next.isEmpty { next.formUnion(stopTokenIds) }
        return next
    }
}
