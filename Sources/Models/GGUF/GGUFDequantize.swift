// Dequantization of GGUF tensor data to Float32: F32, F16, BF16, Q8_0, Q4_0, Q4_1 (block layouts as in ggml's
// ggml-common.h; results bit-identical to gguf-py's `gguf.quants.dequantize`):
//
//   Q8_0 (34 bytes / 32 values): f16 d, int8 q[32]                 x[j] = q[j] * d
//   Q4_0 (18 bytes / 32 values): f16 d, u8 qs[16]                  x[j] = ((qs[j] & 15) - 8) * d,  x[j+16] = ((qs[j] >> 4) - 8) * d
//   Q4_1 (20 bytes / 32 values): f16 d, f16 m, u8 qs[16]           x[j] = (qs[j] & 15) * d + m,    x[j+16] = (qs[j] >> 4) * d + m
//
// Big tensors are split across threads (DispatchQueue.concurrentPerform) by whole blocks.
import Foundation

/// IEEE half bits -> Float, exactly (subnormals, ±inf, NaN payloads kept).
@inline(__always)
func ggufHalfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        let v = Float(mantissa) * 0x1p-24               // exact: a 10-bit integer times a power of two
        return sign != 0 ? -v : v
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// All 65536 half values as Float (256 KiB), built on first use.
let ggufHalfTable: [Float] = (0..<65536).map { ggufHalfToFloat(UInt16($0)) }

/// Pointers handed to worker threads (only ever used for disjoint ranges).
private struct DequantJob: @unchecked Sendable {
    let src: UnsafeRawPointer
    let dst: UnsafeMutablePointer<Float>
    let half: UnsafePointer<Float>
}

/// Dequantizes `blocks` consecutive blocks of `type` from `src` into `dst`.
@inline(__always)
private func dequantizeBlocks(_ type: GGUFTensorType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>,
                              _ blocks: Int, _ half: UnsafePointer<Float>) {
    switch type {
    case .f32:
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: blocks * 4)
    case .f16:
        for i in 0..<blocks {
            dst[i] = half[Int(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))]
        }
    case .bf16:
        for i in 0..<blocks {
            let b = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            dst[i] = Float(bitPattern: UInt32(b) << 16)
        }
    case .q8_0:
        var s = src
        var o = dst
        for _ in 0..<blocks {
            let d = half[Int(UInt16(littleEndian: s.loadUnaligned(as: UInt16.self)))]
            let q = (s + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 { o[j] = Float(q[j]) * d }
            s += 34
            o += 32
        }
    case .q4_0:
        var s = src
        var o = dst
        for _ in 0..<blocks {
            let d = half[Int(UInt16(littleEndian: s.loadUnaligned(as: UInt16.self)))]
            let q = (s + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let b = q[j]
                o[j] = Float(Int32(b & 0x0F) - 8) * d
                o[j + 16] = Float(Int32(b >> 4) - 8) * d
            }
            s += 18
            o += 32
        }
    case .q4_1:
        var s = src
        var o = dst
        for _ in 0..<blocks {
            let d = half[Int(UInt16(littleEndian: s.loadUnaligned(as: UInt16.self)))]
            let m = half[Int(UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))]
            let q = (s + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let b = q[j]
                // two roundings (product, then sum), like numpy's (d * q) + m; Swift does not fuse into an FMA
                o[j] = Float(b & 0x0F) * d + m
                o[j + 16] = Float(b >> 4) * d + m
            }
            s += 20
            o += 32
        }
    default:
        preconditionFailure("dequantizeBlocks: \(type) is not dequantizable")
    }
}

extension GGUFFile {
    /// Elements per worker below which a tensor is dequantized on the calling thread alone.
    static let elementsPerThread = 1 << 17

    /// How many threads to use for `elements` elements.
    static func threadCount(elements: Int) -> Int {
        max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8, elements / elementsPerThread))
    }

    private func checkDequantizable(_ info: GGUFTensorInfo, outputCount: Int) throws {
        guard info.type.isDequantizable else {
            throw GGUFError.unsupportedTensorType(path: path, tensor: info.name, type: info.type)
        }
        guard outputCount == info.elementCount else {
            throw GGUFError.bufferSizeMismatch(path: path, tensor: info.name, expected: info.elementCount,
                                               actual: outputCount)
        }
    }

    /// The tensor's values as Float32, in storage order (which is PyTorch row-major order for `info.shape`).
    public func dequantize(_ info: GGUFTensorInfo) throws -> [Float] {
        try checkDequantizable(info, outputCount: info.elementCount)
        return try [Float](unsafeUninitializedCapacity: info.elementCount) { buffer, count in
            try dequantize(info, into: buffer)
            count = info.elementCount
        }
    }

    /// The values of the tensor named `name` (GGUF name) as Float32.
    public func dequantize(_ name: String) throws -> [Float] {
        try dequantize(requiredTensor(named: name))
    }

    /// Dequantizes into `output`, which must hold exactly `info.elementCount` floats.
    func dequantize(_ info: GGUFTensorInfo, into output: UnsafeMutableBufferPointer<Float>) throws {
        try checkDequantizable(info, outputCount: output.count)
        guard info.elementCount > 0, let dst = output.baseAddress else { return }
        let type = info.type
        let blocks = info.elementCount / type.blockSize
        ggufHalfTable.withUnsafeBufferPointer { table in
            let job = DequantJob(src: base + info.fileOffset, dst: dst, half: table.baseAddress!)
            let threads = Self.threadCount(elements: info.elementCount)
            if threads == 1 {
                dequantizeBlocks(type, job.src, job.dst, blocks, job.half)
                return
            }
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let b0 = blocks * t / threads, b1 = blocks * (t + 1) / threads
                dequantizeBlocks(type, job.src + b0 * type.typeSize, job.dst + b0 * type.blockSize, b1 - b0,
                                 job.half)
            }
        }
    }

    /// Dequantizes slices along the outermost (PyTorch dim 0) dimension, writing source slice `r` to destination
    /// slice `destination(r)` (a permutation of the slices). Each slice must be a whole number of blocks.
    func dequantizeSlices(_ info: GGUFTensorInfo, slices: Int, into output: UnsafeMutableBufferPointer<Float>,
                          destination: @Sendable (Int) -> Int) throws {
        try checkDequantizable(info, outputCount: output.count)
        guard info.elementCount > 0, let dst = output.baseAddress else { return }
        let type = info.type
        let sliceLength = info.elementCount / slices
        guard slices * sliceLength == info.elementCount, sliceLength % type.blockSize == 0 else {
            throw GGUFError.invalidTensor(path: path, tensor: info.name, reason: "cannot split \(info.shape) into "
                                          + "\(slices) slices of whole \(type) blocks")
        }
        let blocksPerSlice = sliceLength / type.blockSize
        let sliceBytes = blocksPerSlice * type.typeSize
        ggufHalfTable.withUnsafeBufferPointer { table in
            let job = DequantJob(src: base + info.fileOffset, dst: dst, half: table.baseAddress!)
            let threads = Self.threadCount(elements: info.elementCount)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for r in (slices * t / threads)..<(slices * (t + 1) / threads) {
                    dequantizeBlocks(type, job.src + r * sliceBytes, job.dst + destination(r) * sliceLength,
                                     blocksPerSlice, job.half)
                }
            }
        }
    }
}
