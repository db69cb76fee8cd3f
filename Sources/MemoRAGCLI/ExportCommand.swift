import ArgumentParser
import Foundation
import Torch
import Training

/// `memorag export RUN/step-N --out DIR [--dtype bf16] [--beacon-only]`: a checkpoint as a Hugging Face model dir.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a training checkpoint (RUN/step-N) in Hugging Face layout, or only its beacon tensors.")

    @Argument(help: "Checkpoint directory (RUN_DIR/step-N).") var checkpoint: String
    @Option(help: "Output directory.") var out: String
    @Option(help: "Cast the weights to fp32, bf16 or fp16 (default: as trained).") var dtype: String?
    @Flag(help: "Only tensors whose names contain 'beacon', plus config.json and a manifest naming the base model.")
    var beaconOnly = false

    func run() throws {
        let report = try ModelExport.export(checkpoint: URL(fileURLWithPath: checkpoint), to: URL(fileURLWithPath: out),
                                            dtype: try dtype.map(ComputeDType.parse), beaconOnly: beaconOnly)
        print("wrote \(report.files.joined(separator: ", ")) to \(out): \(report.tensors) tensors, \(report.bytes) bytes")
    }
}
