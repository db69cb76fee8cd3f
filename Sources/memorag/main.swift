// The `memorag` command line. Native libraries read some settings only when they load (OMP_WAIT_POLICY,
// OPENBLAS_CORETYPE), so the process first re-executes itself with them in place (see LaunchEnvironment).
LaunchEnvironment.reexecIfNeeded()
await MemoragCommand.main()
