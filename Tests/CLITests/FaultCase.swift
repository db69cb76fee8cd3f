import Foundation

/// One hostile input for the `memorag` CLI: a shell script that makes the input in a fresh directory, the arguments
/// that feed it to the CLI, and what must come out. The corpus is data (one table per area of the code, in
/// `FaultCases+*.swift`); `FaultCorpusTests` runs every row the same way.
struct FaultCase: Sendable {
    /// A short name, unique in the corpus, printed when the case fails.
    let name: String
    /// A bash script (`set -euo pipefail`) run in the case's empty directory before the CLI. It sees `$CASE` (that
    /// directory), `$FIXTURES` (the repository's `Tests/` directory, for tiny models and files to corrupt), and
    /// `$MEMORAG` (the binary, for cases that first make a good file with the CLI itself).
    let make: String
    /// The CLI's arguments; `$CASE` and `$FIXTURES` in them are replaced by those paths.
    let arguments: [String]
    /// A fragment of the error the CLI must print on stderr (case-insensitive); it should name the input.
    let expectedError: String
    /// The CLI must exit (non-zero) within this many seconds.
    var seconds: Double = 30
    /// Its peak resident memory must stay under this.
    var peakMegabytes: Int = 2048
    /// Paths under `$CASE` whose bytes must be the same after the run as before it (what was already saved).
    var unchanged: [String] = []
    /// Extra environment for the CLI.
    var environment: [String: String] = [:]
}
