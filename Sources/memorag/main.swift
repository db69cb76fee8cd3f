import ArgumentParser

// The `memorag` command line. Native libraries read some settings only when they load (OMP_WAIT_POLICY,
// OPENBLAS_CORETYPE), so the process first re-executes itself with them in place (see LaunchEnvironment).
LaunchEnvironment.reexecIfNeeded()

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
