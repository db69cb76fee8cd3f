import Foundation
import Retrieval
import TestSupport
import TinyModels
import XCTest

/// What an embedder reads from its model dir stays inside it.
final class EmbedderDirectoryTests: XCTestCase {
    /// modules.json names the Pooling module's dir; a path out of the model dir is refused naming modules.json,
    /// where it used to be read (or, missing, silently replaced by mean pooling).
    func testAPoolingPathOutOfTheModelDirIsRefused() throws {
        let root = try temporaryDirectory("embedder-dir")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("bert")
        try TinyModels.writeRetriever(to: dir)
        let embedder = try Embedder(directory: dir)
        let vectors = try embedder.embed(["the lighthouse keeper", "bees"])
        for vector in vectors {
            XCTAssertEqual(vector.map { $0 * $0 }.reduce(0, +), 1, accuracy: 1e-4, "normalised")
        }

        let modulesURL = dir.appendingPathComponent("modules.json")
        var modules = try JSONSerialization.jsonObject(with: Data(contentsOf: modulesURL)) as! [[String: Any]]
        modules[1]["path"] = "../outside"
        try JSONSerialization.data(withJSONObject: modules).write(to: modulesURL)
        XCTAssertThrowsError(try Embedder(directory: dir)) {
            XCTAssertTrue($0.localizedDescription.contains("modules.json"), $0.localizedDescription)
            XCTAssertTrue($0.localizedDescription.contains("\"../outside\" is not a file inside"), $0.localizedDescription)
        }
    }
}
