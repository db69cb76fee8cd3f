import ArgumentParser
import Foundation
import Torch

// The `memorag` command line. Native libraries read some settings only when they load (OMP_WAIT_POLICY,
// OPENBLAS_CORETYPE), so the process first re-executes itself with them in place (see LaunchEnvironment).
LaunchEnvironment.reexecIfNeeded()
// Activations freed and re-made every layer stay in the heap instead of coming back as zero-filled pages.
HeapSettings.retainFreedTensorMemory()
// Line-buffered stdout even into a file or pipe, so `memorag train … > log` shows each progress line as it happens.
setvbuf(stdout, nil, _IOLBF, 0)

/// Parses and runs a command, awaiting the async ones. (In top-level code the synchronous `main()` and `run()`
/// overloads win, and those refuse async subcommands; inside an async function the async ones are chosen.)
func runMemorag() async {
    do {
        var command = try MemoragCommand.parseAsRoot()
        if var asyncCommand = command as? AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    } catch {
        MemoragCommand.exit(withError: error)
    }
}

await runMemorag()
