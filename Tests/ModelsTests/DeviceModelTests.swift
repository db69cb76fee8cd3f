import Foundation
import Models
import NN
import TestSupport
import Torch
import XCTest

/// Models on the test device (`MEMORAG_TEST_DEVICE`, default cpu): moved as a whole they compute what they computed
/// on the CPU, and a memory made on the device continues on the CPU (memories are stored device-free).
final class DeviceModelTests: XCTestCase {
    let fixtures = BeaconParityTests.fixtures
    let parameters = GenerationParameters(maxNewTokens: 8)

    func testAModelMovedAsAWholeGivesTheSameLogitsAndTokens() throws {
        let device = try TestDevice.current()
        let ids = try Tensor((0..<23).map { Int64(3 + $0 * 7 % 90) }, shape: [1, 23])
        for arch in ["qwen2", "llama"] {
            let cpu = try DecoderLM.load(directory: fixtures.appendingPathComponent(arch))
            let moved = try DecoderLM.load(directory: fixtures.appendingPathComponent(arch))
            try moved.move(to: device)
            XCTAssertEqual(moved.device, device)
            XCTAssertTrue(moved.parameters().allSatisfy { $0.tensor.device == device }, arch)
            let logits = try moved(ids)
            XCTAssertEqual(logits.device, device)
            assertClose(try logits.to(device: .cpu), try cpu(ids), atol: 1e-4, rtol: 1e-4, "\(arch) logits")
            let prompt = Array(3..<40)
            XCTAssertEqual(try moved.generate(promptIds: prompt, parameters: parameters).outputIds,
                           try cpu.generate(promptIds: prompt, parameters: parameters).outputIds, "\(arch) greedy tokens")
            // Moved back, the weights are the ones it was loaded with.
            try moved.move(to: .cpu)
            for ((name, a), (_, b)) in zip(moved.parameters(), cpu.parameters()) {
                XCTAssertTrue(try a.equals(b), "\(arch) \(name)")
            }
        }
    }

    func testAMemoryMadeOnTheTestDeviceContinuesOnTheCPU() throws {
        let device = try TestDevice.current()
        let context = (0..<43).map { 3 + ($0 * 37) % 90 }, prompt = [9, 8, 7, 6, 5]
        let cpu = try DecoderLM.load(directory: fixtures.appendingPathComponent("qwen2"))
        let uninterrupted = try cpu.generate(promptIds: context + prompt, parameters: parameters,
                                             memory: try cpu.makeBeaconMemory(ratio: 4))
        let onDevice = try DecoderLM.load(directory: fixtures.appendingPathComponent("qwen2"))
        try onDevice.move(to: device)
        let memory = try onDevice.makeBeaconMemory(ratio: 4)
        try onDevice.memorize(context, into: memory)
        let url = try temporaryDirectory("device-memory").appendingPathComponent("memory.safetensors")
        try memory.save(to: url)
        // Loaded for either model, the memory lands on that model's device and continues the same way.
        for model in [cpu, onDevice] {
            let stored = try BeaconMemory.load(from: url, for: model)
            let result = try model.generate(promptIds: prompt, parameters: parameters, memory: stored)
            XCTAssertEqual(result.outputIds, uninterrupted.outputIds, "continued on \(model.device)")
        }
    }

    func testInt8WeightsRefuseToLeaveTheCPUAndLeaveTheModelWhereItWas() throws {
        guard Int8Linear.isSupported else { throw XCTSkip("no quantized engine in this libtorch") }
        let model = try DecoderLM.load(directory: fixtures.appendingPathComponent("llama"))
        try model.quantizeInt8()
        XCTAssertThrowsError(try model.move(to: .cuda(0))) { error in
            XCTAssertTrue("\(error)".contains("int8 weights run on the CPU only"), "\(error)")
        }
        XCTAssertTrue(model.parameters().allSatisfy { $0.tensor.device == .cpu })
    }

    func testLoRAAdaptersAreMadeBesideTheWeightTheyAdapt() throws {
        let device = try TestDevice.current()
        let linear = try Linear(8, 4)
        try linear.move(to: device)
        try linear.attachLoRA(rank: 2, alpha: 4)
        XCTAssertTrue(linear.parameters().allSatisfy { $0.tensor.device == device })
        XCTAssertEqual(try linear(try Tensor.randn([3, 8], device: device)).device, device)
    }
}
