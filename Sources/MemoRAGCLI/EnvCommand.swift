import ArgumentParser
import Foundation
import Torch

/// `memorag env`: the launch settings for this machine as shell `export` lines, so scripts (tests, benchmarks) can
/// give every libtorch process the same environment the CLI gives itself: `eval "$(memorag env)"`.
struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env", abstract: "Print the launch environment (OMP_WAIT_POLICY, GOMP_SPINCOUNT, OPENBLAS_CORETYPE) as exports.")

    @Flag(help: "Also describe the CPU and the compute dtype (as shell comments).") var verbose = false

    func run() throws {
        let features = CPUFeatures.detect()
        // The CLI has already re-executed itself with the settings, so report what is in effect now.
        let environment = ProcessInfo.processInfo.environment
        for key in ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OPENBLAS_CORETYPE"] {
            if let value = environment[key] { print("export \(key)=\(value)") }
        }
        if verbose {
            print("# CPU: \(features.summary)")
            print("# compute dtype: \(try ComputeDType.choose(features: features)) for training, "
                + "\(try InferencePrecision.choose(features: features)) for inference; libtorch \(LibTorch.version)")
            let cuda = CUDA.status
            print("# device auto: \(try DeviceChoice.auto.resolve(cuda: cuda))"
                + (cuda.deviceCount > 0 ? " (\(cuda.deviceCount) CUDA device(s))" : " (\(cuda.problem))"))
        }
    }
}
