import Foundation
import Torch

/// The device that device-parameterised tests run on: `MEMORAG_TEST_DEVICE` (`cpu`, `cuda` or `cuda:N`; default
/// `cpu`), so the same tests check the CPU path everywhere and the CUDA path on a GPU machine. A device this libtorch
/// cannot serve is an error that fails the test, never a silent fall back to the CPU.
public enum TestDevice {
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Device {
        let requested = environment["MEMORAG_TEST_DEVICE"].flatMap { $0.isEmpty ? nil : $0 } ?? "cpu"
        let choice = try DeviceChoice(parsing: requested)
        guard choice != .auto else { throw TorchError("MEMORAG_TEST_DEVICE=auto: name the device (cpu, cuda, cuda:N)") }
        return try choice.resolve()
    }
}

extension TestDevice {
    /// CUDA devices this process's libtorch can use, and why none when there are none (for tests of processes that
    /// do not link Torch themselves).
    public static var cuda: (deviceCount: Int, problem: String) {
        let status = CUDA.status
        return (status.deviceCount, status.problem)
    }
}
