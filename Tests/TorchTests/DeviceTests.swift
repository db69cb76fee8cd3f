import Foundation
import TestSupport
import Torch
import XCTest

/// Devices: parsing and resolving a choice, CUDA's absence explained, tensors created on, moved to and queried for
/// the test device (`MEMORAG_TEST_DEVICE`, default cpu), and optimizer state beside its parameters.
final class DeviceTests: XCTestCase {
    func testParsesTheSpellingsAndRejectsOthersByName() throws {
        XCTAssertEqual(try DeviceChoice(parsing: "auto"), .auto)
        XCTAssertEqual(try DeviceChoice(parsing: "cpu"), .device(.cpu))
        XCTAssertEqual(try DeviceChoice(parsing: "cuda"), .device(.cuda(0)))
        XCTAssertEqual(try DeviceChoice(parsing: " CUDA:3 "), .device(.cuda(3)))
        for bad in ["cuda:x", "gpu", "cuda:-1", "cuda:", "", "cpu:0"] {
            XCTAssertThrowsError(try DeviceChoice(parsing: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("unknown device '\(bad)'"), "\(error)")
            }
        }
        for choice in [DeviceChoice.auto, .device(.cpu), .device(.cuda(2))] {
            XCTAssertEqual(try DeviceChoice(parsing: choice.description), choice)
        }
    }

    func testResolvingIsAPureFunctionOfWhatCUDAOffers() throws {
        let none = CUDA.Status(deviceCount: 0, problem: "this libtorch has no CUDA support (/x/libtorch_cpu.so)")
        let two = CUDA.Status(deviceCount: 2)
        XCTAssertEqual(try DeviceChoice.auto.resolve(cuda: none), .cpu)
        XCTAssertEqual(try DeviceChoice.auto.resolve(cuda: two), .cuda(0))
        XCTAssertEqual(try DeviceChoice.device(.cpu).resolve(cuda: two), .cpu)
        XCTAssertEqual(try DeviceChoice.device(.cuda(1)).resolve(cuda: two), .cuda(1))
        XCTAssertThrowsError(try DeviceChoice.device(.cuda(2)).resolve(cuda: two)) { error in
            XCTAssertTrue("\(error)".contains("only 2 CUDA device(s)"), "\(error)")
        }
        XCTAssertThrowsError(try DeviceChoice.device(.cuda(0)).resolve(cuda: none)) { error in
            XCTAssertTrue("\(error)".contains("cuda:0: this libtorch has no CUDA support (/x/libtorch_cpu.so)"), "\(error)")
        }
    }

    /// Data-parallel ranks: `auto` (with GPUs) and a bare `cuda` give each rank cuda:LOCAL_RANK; named devices
    /// and `auto` without GPUs are the same for every rank; a rank past the last GPU is refused, saying why.
    func testEachRankPicksItsOwnGPUUnlessTheDeviceIsNamed() throws {
        let none = CUDA.Status(deviceCount: 0, problem: "this libtorch has no CUDA support (/x/libtorch_cpu.so)")
        let two = CUDA.Status(deviceCount: 2)
        XCTAssertEqual(try DeviceChoice.forRank("auto", localRank: 1, cuda: two), .cuda(1))
        XCTAssertEqual(try DeviceChoice.forRank(" CUDA", localRank: 1, cuda: two), .cuda(1))
        XCTAssertEqual(try DeviceChoice.forRank("cuda:0", localRank: 1, cuda: two), .cuda(0))
        XCTAssertEqual(try DeviceChoice.forRank("cpu", localRank: 1, cuda: two), .cpu)
        XCTAssertEqual(try DeviceChoice.forRank("auto", localRank: 3, cuda: none), .cpu)
        XCTAssertThrowsError(try DeviceChoice.forRank("auto", localRank: 2, cuda: two)) { error in
            XCTAssertTrue("\(error)".contains("LOCAL_RANK 2 has no GPU of its own (2 visible)"), "\(error)")
        }
        XCTAssertThrowsError(try DeviceChoice.forRank("cuda", localRank: 0, cuda: none)) { error in
            XCTAssertTrue("\(error)".contains("cuda: this libtorch has no CUDA support"), "\(error)")
        }
        XCTAssertThrowsError(try DeviceChoice.forRank("tpu", localRank: 0, cuda: two))
    }

    /// This process's libtorch: with CUDA it serves cuda:0 and refuses the index past its last GPU; without, it
    /// says why (the CPU wheel here: no libtorch_cuda.so beside libtorch_cpu.so), `auto` is the CPU, and a tensor
    /// asked for on cuda:0 is that error, not a crash.
    func testCUDAAvailabilityIsExplainedAndAutoFollowsIt() throws {
        let status = CUDA.status
        if status.deviceCount > 0 {
            XCTAssertEqual(status.problem, "")
            XCTAssertEqual(try DeviceChoice.auto.resolve(), .cuda(0))
            XCTAssertEqual(try Tensor.zeros([2], device: .cuda(0)).device, .cuda(0))
        } else {
            XCTAssertTrue(status.problem.contains("CUDA"), status.problem)
            XCTAssertEqual(try DeviceChoice.auto.resolve(), .cpu)
            XCTAssertThrowsError(try Tensor.zeros([2], device: .cuda(0))) { error in
                XCTAssertTrue("\(error)".contains(status.problem), "\(error)")
            }
            XCTAssertThrowsError(try Tensor.ones([2]).to(device: .cuda(0)))
        }
        XCTAssertThrowsError(try Tensor.zeros([2], device: .cuda(status.deviceCount)))
    }

    func testCPUOnlyLibTorchNamesTheFixWhenItHasNoCUDA() throws {
        let status = CUDA.status
        guard status.deviceCount == 0, status.problem.contains("no CUDA support") else {
            throw XCTSkip("this libtorch has CUDA support (\(status.deviceCount) GPU(s))")
        }
        XCTAssertTrue(status.problem.contains("libtorch_cpu"), status.problem)
        XCTAssertTrue(status.problem.contains("LIBTORCH="), status.problem)
    }

    func testTensorsAreCreatedOnMovedToAndQueriedForTheTestDevice() throws {
        let device = try TestDevice.current()
        XCTAssertEqual(try Tensor([1.0, 2, 3]).device, .cpu)
        let values: [Float] = [1, -2, 3.5, 4, 0, 6]
        let here = try Tensor(values, shape: [2, 3], device: device)
        XCTAssertEqual(here.device, device)
        XCTAssertEqual(try here.toArray(Float.self), values)
        let back = try here.to(device: .cpu)
        XCTAssertEqual(back.device, .cpu)
        XCTAssertTrue(try back.equals(try Tensor(values, shape: [2, 3])))
        for made in [try Tensor.zeros([2, 3], device: device), try Tensor.ones([2], dtype: .bfloat16, device: device),
                     try Tensor.full([3], 7, device: device), try Tensor.empty([4], device: device),
                     try Tensor.arange(5, device: device)] {
            XCTAssertEqual(made.device, device)
        }
        XCTAssertEqual(try Tensor.full([3], 7, device: device).toArray(Float.self), [7, 7, 7])
        XCTAssertEqual(try Tensor.arange(0, 5, step: 2, device: device).toArray(Int64.self), [0, 2, 4])
        // Ops keep the device; random draws are the CPU generator's on every device.
        XCTAssertEqual(try (here * 2).device, device)
        try LibTorch.manualSeed(5)
        let onDevice = try Tensor.randn([4, 4], device: device)
        try LibTorch.manualSeed(5)
        XCTAssertTrue(try onDevice.to(device: .cpu).equals(try Tensor.randn([4, 4])))
        XCTAssertEqual(try Tensor.randint(0, 10, [3], device: device).device, device)
        XCTAssertNoThrow(try device.synchronize())
    }

    func testAutocastRunsMatmulsInTheRequestedDTypeOverFloat32Weights() throws {
        let device = try TestDevice.current()
        let a = try Tensor.randn([4, 8], device: device), b = try Tensor.randn([8, 3], device: device)
        let inside = try withAutocast(.bfloat16, on: device) { try a.matmul(b) }
        XCTAssertEqual(inside.dtype, .bfloat16)
        XCTAssertEqual(try a.matmul(b).dtype, .float32, "autocast ends with its scope")
        assertClose(try inside.to(.float32), try a.matmul(b), atol: 0.1, rtol: 0.02)
    }

    func testAdamWKeepsItsMomentsBesideTheParametersAndRestoresThemThere() throws {
        let device = try TestDevice.current()
        try LibTorch.manualSeed(9)
        let start = try Tensor.randn([3, 4])
        func stepped(_ steps: Int, optimizer make: (Tensor) throws -> AdamW) throws -> (Tensor, AdamW) {
            let p = try start.to(device: device).clone().setRequiresGrad()
            let optimizer = try make(p)
            for i in 0..<steps {
                try p.setGrad(try Tensor.full([3, 4], Double(i + 1) * 0.1, device: device))
                try optimizer.step()
            }
            return (p, optimizer)
        }
        let (p, optimizer) = try stepped(3) { try AdamW(parameters: [("w", $0)]) }
        XCTAssertEqual(p.device, device)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("adamw-device-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try optimizer.save(to: url)
        // The same moments restored into an optimizer of parameters on the device continue the same way.
        let (q, restored) = try stepped(0) { try AdamW(parameters: [("w", $0)]) }
        try withNoGrad { try q.copyFrom(p) }
        try restored.load(from: url)
        for (x, o) in [(p, optimizer), (q, restored)] {
            try x.setGrad(try Tensor.full([3, 4], 0.5, device: device))
            try o.step()
        }
        XCTAssertEqual(q.device, device)
        XCTAssertTrue(try q.to(device: .cpu).equals(try p.to(device: .cpu)))
    }
}
