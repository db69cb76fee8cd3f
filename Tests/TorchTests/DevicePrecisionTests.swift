import Foundation
import Torch
import XCTest

/// Precision by device, as pure functions of the device and what is known of it (no GPU needed).
final class DevicePrecisionTests: XCTestCase {
    let hopper = { (_: Int) in (major: 9, minor: 0) }
    let volta = { (_: Int) in (major: 7, minor: 0) }
    let noCPUChoice: () throws -> DType = { XCTFail("the CPU's measurement is not asked on a GPU"); return .float32 }

    func testComputeDTypeOnCUDAFollowsTheGPUGeneration() throws {
        XCTAssertEqual(try ComputeDType.choose(for: .cuda(0), environment: [:], cudaCapability: hopper, cpuChoice: noCPUChoice),
                       .bfloat16)
        XCTAssertEqual(try ComputeDType.choose(for: .cuda(1), environment: [:], cudaCapability: volta, cpuChoice: noCPUChoice),
                       .float32)
        XCTAssertEqual(try ComputeDType.choose(for: .cpu, environment: [:], cpuChoice: { .bfloat16 }), .bfloat16)
        XCTAssertEqual(try ComputeDType.choose(for: .cuda(0), environment: ["MEMORAG_DTYPE": "fp32"], cudaCapability: hopper),
                       .float32, "MEMORAG_DTYPE overrides")
    }

    func testTrainingKeepsFloat32MasterWeightsUnderBF16ComputeOnCUDAOnly() {
        let gpu = TrainingPrecision.resolve(dtype: .bfloat16, device: .cuda(0))
        XCTAssertEqual(gpu, TrainingPrecision(compute: .bfloat16, master: .float32))
        XCTAssertTrue(gpu.isMixed)
        XCTAssertEqual(TrainingPrecision.resolve(dtype: .bfloat16, device: .cpu), TrainingPrecision(compute: .bfloat16, master: .bfloat16))
        XCTAssertEqual(TrainingPrecision.resolve(dtype: .float32, device: .cuda(0)), TrainingPrecision(compute: .float32, master: .float32))
        XCTAssertFalse(TrainingPrecision.resolve(dtype: .float32, device: .cuda(0)).isMixed)
    }

    func testInferenceOnCUDARunsInTheGPUsDTypeAndRefusesInt8() throws {
        let cpuChoice: () throws -> InferencePrecision = { XCTFail("not asked on a GPU"); return .init(dtype: .float32) }
        XCTAssertEqual(try InferencePrecision.choose(for: .cuda(0), environment: [:], cudaCapability: hopper, cpuChoice: cpuChoice),
                       InferencePrecision(dtype: .bfloat16))
        XCTAssertEqual(try InferencePrecision.choose(for: .cpu, environment: [:], cpuChoice: { .init(dtype: .float32, int8Weights: true) }),
                       InferencePrecision(dtype: .float32, int8Weights: true), "the CPU keeps its own rules")
        XCTAssertThrowsError(try InferencePrecision.choose(for: .cuda(0), environment: ["MEMORAG_DTYPE": "int8"],
                                                           cudaCapability: hopper, cpuChoice: cpuChoice)) { error in
            XCTAssertTrue("\(error)".contains("int8 weights run on the CPU only"), "\(error)")
        }
        XCTAssertThrowsError(try InferencePrecision.resolve(dtype: nil, int8Weights: true, device: .cuda(0), environment: [:],
                                                            cudaCapability: hopper))
        XCTAssertEqual(try InferencePrecision.resolve(dtype: nil, int8Weights: nil, device: .cuda(0), environment: [:],
                                                      cudaCapability: volta), InferencePrecision(dtype: .float32))
        XCTAssertEqual(try InferencePrecision.resolve(dtype: .float16, int8Weights: nil, device: .cuda(0), environment: [:],
                                                      cudaCapability: hopper), InferencePrecision(dtype: .float16))
        XCTAssertNoThrow(try InferencePrecision(dtype: .float32, int8Weights: true).check(on: .cpu))
    }
}
