import Foundation
import TestSupport
import TinyModels
import XCTest

/// `--device` through the built binary: a malformed value is a usage error, `auto` is announced, and a GPU this
/// libtorch cannot serve is an error that says why (on the CPU-only wheel: no CUDA support, and how to get it).
final class DeviceCommandTests: XCTestCase {
    func generate(_ device: String) throws -> (status: Int32, stdout: String, stderr: String) {
        guard let memorag = builtExecutable("memorag") else {
            throw NSError(domain: "DeviceCommandTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "the memorag binary is not built"])
        }
        let model = try TinyModels.shared().memoryModel
        return try runProcess(memorag, ["generate", "--model", model.path, "--prompt", "hi", "--max-new-tokens", "2",
                                        "--dtype", "fp32", "--device", device])
    }

    func testAMalformedDeviceIsAUsageError() throws {
        let run = try generate("cuda:x")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--device: unknown device 'cuda:x'"), run.stderr)
    }

    func testAutoIsAnnouncedOnStderr() throws {
        let run = try generate("auto")
        XCTAssertEqual(run.status, 0, run.stderr)
        let expected = TestDevice.cuda.deviceCount > 0 ? "cuda:0" : "cpu"
        XCTAssertTrue(run.stderr.contains("memorag: device \(expected) (auto)"), run.stderr)
    }

    func testAGPUThisLibTorchCannotServeIsAClearError() throws {
        let cuda = TestDevice.cuda
        let run = try generate("cuda:\(cuda.deviceCount)")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertFalse(run.stderr.contains("Fatal error") || run.stderr.contains("terminate called"), run.stderr)
        if cuda.deviceCount == 0 {
            XCTAssertTrue(run.stderr.contains("--device cuda:0: \(cuda.problem)"), run.stderr)
            if cuda.problem.contains("no CUDA support") { XCTAssertTrue(run.stderr.contains("LIBTORCH="), run.stderr) }
        } else {
            XCTAssertTrue(run.stderr.contains("CUDA device(s) visible"), run.stderr)
        }
    }
}
