import ArgumentParser
import Foundation
import Torch

/// `--device auto|cpu|cuda|cuda:N` for every command that runs a model (the pipeline commands take it through
/// `PipelineOptions`).
struct DeviceOption: ParsableArguments {
    @Option(help: "Where models run: auto (the first GPU when libtorch has CUDA and one is visible, else the CPU), cpu, cuda or cuda:N (docs/devices.md).")
    var device: String?

    /// The choice as given (`auto` when absent); a malformed one is a usage error.
    func choice() throws -> DeviceChoice {
        guard let device else { return .auto }
        do { return try DeviceChoice(parsing: device) } catch let error as TorchError {
            throw ValidationError("--device: \(error.message)")
        }
    }

    /// The device to run on, announced once on stderr (an unusable CUDA device is an error saying why).
    func resolve() throws -> Device {
        let choice = try choice()
        let device = try choice.resolve()
        announceDevice(device, choice: choice)
        return device
    }
}

/// One stderr line, like the other progress lines: where the models run and, for `auto`, that it was chosen.
func announceDevice(_ device: Device, choice: DeviceChoice) {
    FileHandle.standardError.write(Data("memorag: device \(deviceLabel(device, choice: choice))\n".utf8))
}

func deviceLabel(_ device: Device, choice: DeviceChoice) -> String {
    choice == .auto ? "\(device) (auto)" : "\(device)"
}
