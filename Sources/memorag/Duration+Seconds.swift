extension Duration {
    /// The duration in seconds, for rates and progress lines.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
