extension FaultCase {
    /// Hostile inputs met by the serving side of the CLI.
    static let serving: [FaultCase] = [
    ]
}
