import CTorch.Faiss
import Foundation

/// How an index compares vectors. With unit-length embeddings (all-MiniLM-L6-v2 normalises) inner product is the
/// cosine similarity; scores are "higher is better" for `.innerProduct` and squared distances for `.l2`.
public enum VectorMetric: Sendable, Equatable {
    case innerProduct, l2

    var code: Int32 {
        switch self {
        case .innerProduct: return Int32(MR_FAISS_METRIC_INNER_PRODUCT.rawValue)
        case .l2: return Int32(MR_FAISS_METRIC_L2.rawValue)
        }
    }
}

/// A faiss index (owned; freed on deinit). Vector ids are their positions in the order of `add` (0, 1, 2, …), so
/// chunks added in id order come back with their own ids. Files are faiss's `write_index` format, readable by
/// Python's `faiss.read_index`. Calls are serialised by a lock, so one index may be shared between tasks.
public final class VectorIndex: @unchecked Sendable {
    private let handle: mr_faiss_index
    private let lock = NSLock()
    public let dimension: Int
    public let metric: VectorMetric
    /// The `index_factory` description it was made with ("Flat", "IVF64,Flat", "HNSW32", …); nil when read from a file.
    public let factory: String?

    /// A new, empty index. Factories other than "Flat" (e.g. "IVF64,Flat") need `train` before `add`.
    public init(dimension: Int, factory: String = "Flat", metric: VectorMetric = .innerProduct) throws {
        guard dimension > 0 else { throw RetrievalError.invalidArgument("index dimension must be positive, got \(dimension)") }
        var out: mr_faiss_index?
        guard mr_faiss_index_factory(&out, Int64(dimension), factory, metric.code) == 0, let out else {
            throw RetrievalError.index(operation: "index_factory(\(dimension), \"\(factory)\")", reason: Self.lastError)
        }
        handle = out
        self.dimension = dimension
        self.metric = metric
        self.factory = factory
    }

    private init(handle: mr_faiss_index) throws {
        self.handle = handle
        var d: Int64 = 0
        var m: Int32 = 0
        guard mr_faiss_dimension(handle, &d) == 0, mr_faiss_metric_type(handle, &m) == 0 else {
            mr_faiss_index_free(handle)
            throw RetrievalError.index(operation: "inspect", reason: Self.lastError)
        }
        dimension = Int(d)
        switch m {
        case Int32(MR_FAISS_METRIC_INNER_PRODUCT.rawValue): metric = .innerProduct
        case Int32(MR_FAISS_METRIC_L2.rawValue): metric = .l2
        default:
            mr_faiss_index_free(handle)
            throw RetrievalError.index(operation: "inspect", reason: "unsupported metric type \(m)")
        }
        factory = nil
    }

    deinit { mr_faiss_index_free(handle) }

    /// Number of vectors in the index.
    public var count: Int {
        locked { var n: Int64 = 0; precondition(mr_faiss_ntotal(handle, &n) == 0, Self.lastError); return Int(n) }
    }

    public var isTrained: Bool {
        locked { var t: Int32 = 0; precondition(mr_faiss_is_trained(handle, &t) == 0, Self.lastError); return t != 0 }
    }

    /// Trains the index's quantizers (IVF centroids, PQ codebooks) on representative vectors; a no-op for "Flat".
    public func train(_ vectors: [[Float]]) throws {
        let flat = try flatten(vectors, what: "training vectors")
        try locked {
            try check(flat.withUnsafeBufferPointer { mr_faiss_train(handle, Int64(vectors.count), $0.baseAddress) }, "train")
        }
    }

    /// Appends vectors; they get the ids `count ..< count + vectors.count`.
    public func add(_ vectors: [[Float]]) throws {
        let flat = try flatten(vectors, what: "vectors to add")
        try locked {
            try check(flat.withUnsafeBufferPointer { mr_faiss_add(handle, Int64(vectors.count), $0.baseAddress) }, "add")
        }
    }

    /// The `k` best matches of each query, best first (fewer when the index holds fewer than `k` vectors).
    public func search(_ queries: [[Float]], k: Int) throws -> [[(id: Int, score: Float)]] {
        guard k >= 1 else { throw RetrievalError.invalidArgument("k must be at least 1, got \(k)") }
        let flat = try flatten(queries, what: "queries")
        let n = queries.count
        var scores = [Float](repeating: 0, count: n * k)
        var ids = [Int64](repeating: -1, count: n * k)
        try locked {
            let status = flat.withUnsafeBufferPointer { q in
                scores.withUnsafeMutableBufferPointer { s in
                    ids.withUnsafeMutableBufferPointer { i in
                        mr_faiss_search(handle, Int64(n), q.baseAddress, Int64(k), s.baseAddress, i.baseAddress)
                    }
                }
            }
            try check(status, "search")
        }
        return (0..<n).map { row in
            (row * k..<(row + 1) * k).compactMap { slot in ids[slot] < 0 ? nil : (id: Int(ids[slot]), score: scores[slot]) }
        }
    }

    /// Sets a search-time parameter through faiss's ParameterSpace: "nprobe" (IVF lists visited), "efSearch" (HNSW).
    public func setParameter(_ name: String, _ value: Double) throws {
        try locked { try check(mr_faiss_set_parameter(handle, name, value), "set \(name)=\(value)") }
    }

    /// Writes the index with faiss's `write_index` to a temporary file next to `url`, then renames it over `url`,
    /// so a reader never sees half a file.
    public func write(to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try locked {
                guard mr_faiss_write_index(handle, temporary.path) == 0 else {
                    throw RetrievalError.unwritableIndex(path: url.path, reason: Self.lastError)
                }
            }
            // rename(2) replaces an existing file atomically (FileManager's replace is not atomic everywhere).
            guard rename(temporary.path, url.path) == 0 else {
                throw RetrievalError.unwritableIndex(path: url.path, reason: String(cString: strerror(errno)))
            }
        } catch let error as RetrievalError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw RetrievalError.unwritableIndex(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Reads a faiss index file (any faiss index type; missing, damaged or inconsistent files are an error).
    public static func read(from url: URL) throws -> VectorIndex {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw RetrievalError.unreadableIndex(path: url.path, reason: "no such file")
        }
        var out: mr_faiss_index?
        guard mr_faiss_read_index(&out, url.path) == 0, let out else {
            throw RetrievalError.unreadableIndex(path: url.path, reason: lastError)
        }
        return try VectorIndex(handle: out)
    }

    /// OpenMP threads for faiss calls; 0 (the default) follows libtorch's intra-op thread count.
    public static func setNumThreads(_ n: Int) throws {
        guard mr_faiss_set_num_threads(Int32(n)) == 0 else { throw RetrievalError.invalidArgument(lastError) }
    }

    /// The thread count faiss calls use now.
    public static var numThreads: Int {
        var n: Int32 = 0
        precondition(mr_faiss_get_num_threads(&n) == 0, lastError)
        return Int(n)
    }

    /// The faiss version the shim was built against.
    public static var faissVersion: String {
        var buffer = [CChar](repeating: 0, count: 32)
        guard mr_faiss_version(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(cString: buffer)
    }

    // MARK: - Helpers

    private static var lastError: String { String(cString: mr_faiss_last_error()) }

    private func check(_ status: Int32, _ operation: String) throws {
        if status != 0 { throw RetrievalError.index(operation: operation, reason: Self.lastError) }
    }

    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func flatten(_ vectors: [[Float]], what: String) throws -> [Float] {
        var flat: [Float] = []
        flat.reserveCapacity(vectors.count * dimension)
        for vector in vectors {
            guard vector.count == dimension else {
                throw RetrievalError.dimensionMismatch(expected: dimension, got: vector.count, what: what)
            }
            flat.append(contentsOf: vector)
        }
        return flat
    }
}
