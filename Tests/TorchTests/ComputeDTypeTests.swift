import Torch
import XCTest

final class ComputeDTypeTests: XCTestCase {
    let avx2Only = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
    let sapphire = "processor\t: 0\nflags\t\t: fpu avx2 fma avx512f avx512bw avx512dq avx512vl avx512_bf16 amx_bf16\n"

    func testDetectionFromCPUFlags() throws {
        let plain = CPUFeatures.parse(cpuinfo: avx2Only)
        XCTAssertTrue(plain.avx2 && plain.fma)
        XCTAssertFalse(plain.hasHardwareBF16)
        XCTAssertEqual(try ComputeDType.choose(features: plain, environment: [:]), .float32)
        let modern = CPUFeatures.parse(cpuinfo: sapphire)
        XCTAssertTrue(modern.hasHardwareBF16)
        let bf16Faster = ComputeDType.MatmulRates(float32: 300, bfloat16: 900)
        XCTAssertEqual(try ComputeDType.choose(features: modern, environment: [:], rates: { bf16Faster }), .bfloat16)
        // Hardware bf16 that measures slower than fp32 (AVX-512 BF16 without AMX here) keeps fp32.
        let bf16Slower = ComputeDType.MatmulRates(float32: 340, bfloat16: 172)
        XCTAssertEqual(try ComputeDType.choose(features: modern, environment: [:], rates: { bf16Slower }), .float32)
        XCTAssertEqual(try ComputeDType.choose(features: plain, environment: [:], rates: { bf16Faster }), .float32)
        let measured = try ComputeDType.measureMatmulRates(size: 128)
        XCTAssertTrue(measured.float32 > 0 && measured.bfloat16 > 0, "\(measured)")
        XCTAssertEqual(CPUFeatures.parse(cpuinfo: "no flags here"), CPUFeatures())
    }

    func testUserOverride() throws {
        let modern = CPUFeatures.parse(cpuinfo: sapphire)
        XCTAssertEqual(try ComputeDType.choose(features: modern, environment: ["MEMORAG_DTYPE": "fp32"]), .float32)
        XCTAssertEqual(try ComputeDType.choose(features: CPUFeatures(), environment: ["MEMORAG_DTYPE": "bf16"]), .bfloat16)
        XCTAssertThrowsError(try ComputeDType.choose(features: modern, environment: ["MEMORAG_DTYPE": "int3"]))
    }

    func testLaunchSettings() {
        let modern = CPUFeatures.parse(cpuinfo: sapphire)
        XCTAssertEqual(LaunchSettings.missing(in: [:], features: modern),
                       ["OMP_WAIT_POLICY": "passive", "GOMP_SPINCOUNT": "10000", "OPENBLAS_CORETYPE": "SkylakeX"])
        XCTAssertEqual(LaunchSettings.missing(in: [:], features: CPUFeatures.parse(cpuinfo: avx2Only)),
                       ["OMP_WAIT_POLICY": "passive", "GOMP_SPINCOUNT": "10000", "OPENBLAS_CORETYPE": "Haswell"])
        // A user's own setting wins; an active policy gets no spin count of ours.
        XCTAssertEqual(LaunchSettings.missing(in: ["OMP_WAIT_POLICY": "active", "OPENBLAS_CORETYPE": "Zen"], features: modern), [:])
        XCTAssertEqual(LaunchSettings.missing(in: ["OMP_WAIT_POLICY": "passive", "GOMP_SPINCOUNT": "0"], features: CPUFeatures()), [:])
    }

    func testInferenceDefaultsToInt8WhereTheCPUHasVNNI() throws {
        let vnni = CPUFeatures.parse(cpuinfo: "processor\t: 0\nflags\t\t: avx2 fma avx512f avx512_vnni avx512_bf16\n")
        XCTAssertTrue(vnni.vnni)
        XCTAssertFalse(CPUFeatures.parse(cpuinfo: sapphire).vnni)
        let int8 = InferencePrecision(dtype: .float32, int8Weights: true)
        XCTAssertEqual(try InferencePrecision.choose(features: vnni, environment: [:], int8Available: true), int8)
        // Without the quantized engine, or without VNNI, the float choice as before.
        XCTAssertEqual(try InferencePrecision.choose(features: vnni, environment: [:], int8Available: false),
                       InferencePrecision(dtype: try ComputeDType.choose(features: vnni, environment: [:])))
        XCTAssertEqual(try InferencePrecision.choose(features: CPUFeatures.parse(cpuinfo: avx2Only), environment: [:],
                                                     int8Available: true), InferencePrecision(dtype: .float32))
        XCTAssertEqual(try InferencePrecision.choose(features: vnni, environment: ["MEMORAG_DTYPE": "fp32"]),
                       InferencePrecision(dtype: .float32))
        XCTAssertEqual(try InferencePrecision.choose(features: CPUFeatures(), environment: ["MEMORAG_DTYPE": "int8"]), int8)
        XCTAssertEqual(try InferencePrecision.parse("INT8"), int8)
        XCTAssertThrowsError(try InferencePrecision.parse("int4")) { error in
            XCTAssertTrue("\(error)".contains("int8"), "\(error)")
        }
        // Explicit choices win; int8 with bf16 activations does not exist.
        XCTAssertEqual(try InferencePrecision.resolve(dtype: .bfloat16, int8Weights: nil), InferencePrecision(dtype: .bfloat16))
        XCTAssertEqual(try InferencePrecision.resolve(dtype: nil, int8Weights: true), int8)
        XCTAssertEqual(try InferencePrecision.resolve(dtype: .float32, int8Weights: false), InferencePrecision(dtype: .float32))
        XCTAssertThrowsError(try InferencePrecision.resolve(dtype: .bfloat16, int8Weights: true))
    }
}
