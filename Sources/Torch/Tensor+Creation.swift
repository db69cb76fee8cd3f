import CTorch

extension Tensor {
    public static func zeros(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_zeros($0, dims, n, dtype.rawValue) } }
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_ones($0, dims, n, dtype.rawValue) } }
    }

    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_full($0, dims, n, value, dtype.rawValue) } }
    }

    /// Uninitialised storage; every element must be written before it is read.
    public static func empty(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_empty($0, dims, n, dtype.rawValue) } }
    }

    /// `start, start + step, …` up to but excluding `end`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .int64) throws
        -> Tensor
    {
        try makeTensor { mr_arange($0, start, end, step, dtype.rawValue) }
    }

    public static func arange(_ end: Int, dtype: DType = .int64) throws -> Tensor {
        try arange(0, Double(end), dtype: dtype)
    }

    /// Uniform on [0, 1), from the default generator (see `LibTorch.manualSeed`).
    public static func rand(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_rand($0, dims, n, dtype.rawValue) } }
    }

    /// Standard normal, from the default generator.
    public static func randn(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_randn($0, dims, n, dtype.rawValue) } }
    }

    /// Integers uniform on [low, high), int64.
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int]) throws -> Tensor {
        try withInt64s(shape) { dims, n in try makeTensor { mr_randint($0, Int64(low), Int64(high), dims, n) } }
    }

    /// The upper triangle (elements with column − row ≥ diagonal), the rest zero.
    public func triu(_ diagonal: Int = 0) throws -> Tensor { try makeTensor { mr_triu($0, handle, Int64(diagonal)) } }

    /// The lower triangle (elements with column − row ≤ diagonal), the rest zero.
    public func tril(_ diagonal: Int = 0) throws -> Tensor { try makeTensor { mr_tril($0, handle, Int64(diagonal)) } }
}
