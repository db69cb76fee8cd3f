import Foundation

/// Runs a reference check script (`python script arguments…`) and returns its exit status and combined output, which
/// is also printed so a CI log shows what the reference said.
public func runPythonCheck(_ python: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    print(output)
    return (process.terminationStatus, output)
}
