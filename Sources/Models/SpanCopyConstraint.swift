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
    /// Ids that end one span and start the next (empty: the reply is one span). Like a stop, a line break is allowed
    /// once the current line is long enough (`minimumTokens`, `minimumWords`); a stop is also allowed at the start of
    /// any line but the first.
    public let lineBreakTokenIds: Set<Int>
    /// A line (or the reply) may also end only once it holds `minimumWords` words: its first id and each later id
    /// of `wordStartTokenIds` (those that begin with a space) open one. Clue filters count words, not tokens.
    public let minimumWords: Int
    public let wordStartTokenIds: Set<Int>

    public init(sources: [[Int]], stopTokenIds: Set<Int>, minimumTokens: Int = 1, starts: [[Bool]]? = nil,
                lineBreakTokenIds: Set<Int> = [], minimumWords: Int = 0, wordStartTokenIds: Set<Int> = []) {
        precondition(starts == nil || starts!.map(\.count) == sources.map(\.count), "one start flag per source token")
        precondition(lineBreakTokenIds.isDisjoint(with: stopTokenIds), "a line break cannot also stop the reply")
        self.sources = sources
        self.stopTokenIds = stopTokenIds
        self.minimumTokens = max(1, minimumTokens)
        self.starts = starts
        self.lineBreakTokenIds = lineBreakTokenIds
        self.minimumWords = minimumWords
        self.wordStartTokenIds = wordStartTokenIds
    }

    /// The ids that may follow `reply` (the ids generated so far). Empty only when no source has a token.
    public func allowed(after reply: [Int]) -> Set<Int> {
        let lineStart = (reply.lastIndex { lineBreakTokenIds.contains($0) }).map { $0 + 1 } ?? 0
        let line = reply[lineStart...]
        // A source's own line break would end the line early: it is offered only where a line may end.
        let next = continuations(of: line).subtracting(lineBreakTokenIds)
        if line.isEmpty && lineStart > 0 { return next.union(stopTokenIds) }
        if isLongEnough(line) || next.isEmpty { return next.union(stopTokenIds).union(lineBreakTokenIds) }
        return next
    }

    private func isLongEnough(_ line: ArraySlice<Int>) -> Bool {
        guard line.count >= minimumTokens else { return false }
        guard minimumWords > 1 else { return true }
        return 1 + line.dropFirst().count { wordStartTokenIds.contains($0) } >= minimumWords
    }

    /// Every id that follows an occurrence of `line` in some source (starting where `starts` allows).
    private func continuations(of line: ArraySlice<Int>) -> Set<Int> {
        var next = Set<Int>()
        let first = line.first
        for (s, source) in sources.enumerated() where source.count > line.count {
            // Every end position p such that source[p - line.count ..< p] == line and source[p] exists.
            for start in 0...(source.count - line.count - 1) {
                if let first, source[start] != first { continue }  // most positions fail here: a book is long
                if let starts, !starts[s][start] { continue }
                if first == nil || source[start..<(start + line.count)].elementsEqual(line) {
                    next.insert(source[start + line.count])
                }
            }
        }
        return next
    }
}
