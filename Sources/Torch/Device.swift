import Foundation
import CTorch

/// Where a tensor's storage lives and its ops run. Everything above `Torch` asks a tensor or module for its device;
/// only `CUDA` below talks to the shim about GPUs.
public enum Device: Hashable, Sendable, CustomStringConvertible {
    case cpu
    /// CUDA device N (`cuda:N`).
    case cuda(Int)

    /// The shim's device code (`MR_DEVICE_CPU` or the CUDA index).
    var code: Int32 {
        switch self {
        case .cpu: return -1
        case .cuda(let index): return Int32(index)
        }
    }

    init(code: Int32) { self = code < 0 ? .cpu : .cuda(Int(code)) }

    public var isCUDA: Bool { if case .cuda = self { true } else { false } }

    /// Waits until the work queued on this device has finished: CUDA ops return before they run, so a clock read
    /// after them measures nothing without this. A no-op on the CPU.
    public func synchronize() throws { try check(mr_synchronize(code)) }

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .cuda(let index): return "cuda:\(index)"
        }
    }
}

/// What a user asks for (`device:` in recipes, `--device` on the CLI): `auto`, `cpu`, `cuda` (device 0) or `cuda:N`.
public enum DeviceChoice: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The first GPU when libtorch has CUDA and one is visible, else the CPU.
    case auto
    case device(Device)

    public init(parsing text: String) throws {
        let value = text.trimmingCharacters(in: .whitespaces).lowercased()
        switch value {
        case "auto": self = .auto
        case "cpu": self = .device(.cpu)
        case "cuda": self = .device(.cuda(0))
        default:
            guard value.hasPrefix("cuda:"), let index = Int(value.dropFirst(5)), index >= 0 else {
                throw TorchError("unknown device '\(text)' (expected auto, cpu, cuda or cuda:N with N a GPU index)")
            }
            self = .device(.cuda(index))
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .device(let device): return device.description
        }
    }

    /// The device to run on, given what CUDA offers (`CUDA.status` by default). A CUDA device this process cannot
    /// use is an error that says why (no CUDA in this libtorch, no GPU, an index past the last GPU).
    public func resolve(cuda: CUDA.Status = CUDA.status) throws -> Device {
        switch self {
        case .auto: return cuda.deviceCount > 0 ? .cuda(0) : .cpu
        case .device(.cpu): return .cpu
        case .device(.cuda(let index)):
            guard cuda.deviceCount > 0 else { throw TorchError("--device cuda:\(index): \(cuda.problem)") }
            guard index < cuda.deviceCount else {
                throw TorchError("--device cuda:\(index): only \(cuda.deviceCount) CUDA device(s) visible "
                                 + "(cuda:0 … cuda:\(cuda.deviceCount - 1))")
            }
            return .cuda(index)
        }
    }

    /// The device of one data-parallel rank, from the recipe's device text: `auto` on a machine with GPUs, and a
    /// bare `cuda`, mean the rank's own GPU, cuda:LOCAL_RANK, as torchrun's ranks pick theirs; `cpu`, `cuda:N` and
    /// `auto` without GPUs resolve as in a single process (every rank on that device).
    public static func forRank(_ text: String, localRank: Int, cuda: CUDA.Status = CUDA.status) throws -> Device {
        let choice = try DeviceChoice(parsing: text)
        let bareCUDA = text.trimmingCharacters(in: .whitespaces).lowercased() == "cuda"
        guard bareCUDA || (choice == .auto && cuda.deviceCount > 0) else { return try choice.resolve(cuda: cuda) }
        guard cuda.deviceCount > 0 else { throw TorchError("--device cuda: \(cuda.problem)") }
        guard localRank < cuda.deviceCount else {
            throw TorchError("--device \(text): the rank with LOCAL_RANK \(localRank) has no GPU of its own (\(cuda.deviceCount) "
                             + "visible); run at most \(cuda.deviceCount) rank(s) per node, or name the device (cpu, cuda:N)")
        }
        return .cuda(localRank)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// What this process's libtorch offers on CUDA. The first question loads libtorch's CUDA kernels (libtorch_cuda.so
/// beside the loaded libtorch_cpu.so) when it has them; a CPU-only libtorch answers "no devices" and why.
public enum CUDA {
    public struct Status: Sendable, Equatable {
        public var deviceCount: Int
        /// Why CUDA cannot be used; empty when `deviceCount > 0`.
        public var problem: String

        public init(deviceCount: Int, problem: String = "") { (self.deviceCount, self.problem) = (deviceCount, problem) }
    }

    /// Probed once per process by the shim.
    public static var status: Status {
        var count: Int32 = 0
        guard mr_cuda_device_count(&count) == 0 else { return Status(deviceCount: 0, problem: lastError()) }
        guard count == 0 else { return Status(deviceCount: Int(count)) }
        var buffer = [CChar](repeating: 0, count: 1024)
        guard mr_cuda_problem(&buffer, buffer.count) == 0 else { return Status(deviceCount: 0, problem: lastError()) }
        return Status(deviceCount: 0, problem: String(cString: buffer))
    }

    /// The compute capability (major, minor) of a CUDA device, e.g. (9, 0) for an H100/H200.
    public static func capability(of index: Int) throws -> (major: Int, minor: Int) {
        var major: Int32 = 0, minor: Int32 = 0
        try check(mr_cuda_capability(Int32(index), &major, &minor))
        return (Int(major), Int(minor))
    }

    private static func lastError() -> String { String(cString: mr_last_error()) }
}

extension Tensor {
    public var device: Device {
        var code: Int32 = 0
        precondition(mr_tensor_device(handle, &code) == 0, String(cString: mr_last_error()))
        return Device(code: code)
    }

    /// This tensor on `device`: itself when it is there already, else a copy (still part of the autograd graph).
    public func to(device: Device) throws -> Tensor {
        try makeTensor { mr_to_device($0, handle, device.code) }
    }
}

/// Runs `body` with libtorch's autocast on for `device`'s type on this thread: the ops autocast lists (matmuls,
/// linear layers, attention) compute in `dtype` while weights stay in theirs (fp32 master weights under bf16
/// compute). The earlier state is restored after.
public func withAutocast<T>(_ dtype: DType, on device: Device, _ body: () throws -> T) throws -> T {
    var previous: Int32 = 0
    try check(mr_set_autocast(device.code, 1, dtype.rawValue, &previous))
    defer { _ = mr_set_autocast(device.code, previous, dtype.rawValue, nil) }
    return try body()
}

/// Runs `body` with the shim's own CPU kernels switched off process-wide, so CPU tensors take the libtorch route
/// that CUDA tensors take: the way to test that route on a machine without a GPU. Not for concurrent use.
public func withLibTorchKernels<T>(_ body: () throws -> T) throws -> T {
    var previous: Int32 = 0
    try check(mr_set_shim_kernels(0, &previous))
    defer { _ = mr_set_shim_kernels(previous, nil) }
    return try body()
}
