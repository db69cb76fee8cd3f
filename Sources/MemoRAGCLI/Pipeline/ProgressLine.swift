import Foundation

/// One status line on stderr for long work: rewritten in place on a terminal (at most ~10 times a second), plain
/// lines at most every few seconds when stderr is a log file.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastDraw = Date.distantPast
    private var lastKey = ""
    private var drawn = false

    /// Shows `text`; `key` identifies the stage, and a new key always prints.
    func update(_ text: String, key: String = "") {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        let interval = isTerminal ? 0.1 : 5
        guard key != lastKey || now.timeIntervalSince(lastDraw) >= interval else { return }
        if isTerminal {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
            drawn = true
        } else {
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
        lastDraw = now
        lastKey = key
    }

    /// Ends the line (a terminal keeps the last state visible).
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if isTerminal && drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}

/// "1:05" / "12 s": a short duration for ETAs.
func shortDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    if seconds < 60 { return "\(Int(seconds.rounded())) s" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
