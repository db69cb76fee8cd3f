import Foundation
import TestSupport
import Torch
import XCTest

enum Paths {
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    static var fixtures: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }
    static var smolLM2: URL { repository.appendingPathComponent("checkpoints/memorag-smollm2-135m") }
    static var miniLM: URL { InstalledModels.miniLM }

    /// all-MiniLM-L6-v2, or a failure telling how to install it.
    static func requireMiniLM() throws -> URL {
        guard FileManager.default.fileExists(atPath: miniLM.appendingPathComponent("model.safetensors").path) else {
            XCTFail("all-MiniLM-L6-v2 is not installed at \(miniLM.path): run scripts/fetch-models.sh")
            throw XCTSkip("all-MiniLM-L6-v2 missing")
        }
        return miniLM
    }
}

/// Runs a fixture script with `$MEMORAG_PYTHON` (the venv of scripts/check-venv.sh); skips when it is not set.
func runFixtureScript(_ script: String, _ arguments: [String]) throws {
    guard let python = ProcessInfo.processInfo.environment["MEMORAG_PYTHON"], !python.isEmpty else {
        throw XCTSkip("MEMORAG_PYTHON is not set: set it to a python with faiss-cpu and numpy (scripts/check-venv.sh) to run \(script)")
    }
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1)  // the fixtures directory must stay clean
    let (status, output) = try runPythonCheck(python, [Paths.fixtures.appendingPathComponent(script).path] + arguments)
    XCTAssertEqual(status, 0, "\(script) failed:\n\(output)")
}

/// Random unit vectors (rows).
func randomUnitVectors(_ count: Int, dimension: Int, using generator: inout SplitMix64) -> [[Float]] {
    (0..<count).map { _ in
        let v = (0..<dimension).map { _ in Float.random(in: -1...1, using: &generator) }
        let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
        return v.map { $0 / norm }
    }
}
