import CTorch

extension Tensor {
    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_zeros($0, dims, n, dtype.rawValue, device.code) } }
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_ones($0, dims, n, dtype.rawValue, device.code) } }
    }

    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu) throws
        -> Tensor
    {
        try withInt64s(shape) { dims, n in try makeTensor { mr_full($0, dims, n, value, dtype.rawValue, device.code) } }
    }

    /// Uninitialised storage; every element must be written before it is read.
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_empty($0, dims, n, dtype.rawValue, device.code) } }
    }

    /// `start, start + step, …` up to but excluding `end`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .int64,
                              device: Device = .cpu) throws -> Tensor
    {
        try makeTensor { mr_arange($0, start, end, step, dtype.rawValue, device.code) }
    }

    public static func arange(_ end: Int, dtype: DType = .int64, device: Device = .cpu) throws -> Tensor {
        try arange(0, Double(end), dtype: dtype, device: device)
    }

    /// Uniform on [0, 1), from the default (CPU) generator (see `LibTorch.manualSeed`), then moved to `device`: the
    /// same numbers on every device.
    public static func rand(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_rand($0, dims, n, dtype.rawValue, device.code) } }
    }

    /// Standard normal, from the default (CPU) generator, then moved to `device`.
    public static func randn(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_randn($0, dims, n, dtype.rawValue, device.code) } }
    }

    /// Integers uniform on [low, high), int64, from the default (CPU) generator, then moved to `device`.
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], device: Device = .cpu) throws -> Tensor {
        try withInt64s(shape) { dims, n in
            try makeTensor { mr_randint($0, Int64(low), Int64(high), dims, n, device.code) }
        }
    }

    /// The upper triangle (elements with column − row ≥ diagonal), the rest zero.
    public func triu(_ diagonal: Int = 0) throws -> Tensor { try makeTensor { mr_triu($0, handle, Int64(diagonal)) } }

    /// The lower triangle (elements with column − row ≤ diagonal), the rest zero.
    public func tril(_ diagonal: Int = 0) throws -> Tensor { try makeTensor { mr_tril($0, handle, Int64(diagonal)) } }
}
