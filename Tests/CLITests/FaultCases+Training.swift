extension FaultCase {
    /// Hostile inputs met by the training side of the CLI.
    static let training: [FaultCase] = [
    ]
}
