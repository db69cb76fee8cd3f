import Torch

/// Inference only: one layer's memory as attention reads it — keys [sink; beacons; raw] with RoPE already applied
/// at their positions 0 ..< count, and the values — in pieces: entries shared with the memory this one was copied
/// from, then this memory's own entries in buffers with room to grow.
///
/// Keys are stored before RoPE because positions are re-assigned when a window fills; between fills they stay put
/// (new entries only append), so rotating the whole memory and concatenating it again for every decoded token, as
/// the plain layout needs, is wasted work that grows with the memory. This cache is rebuilt once per window and
/// appended to in place otherwise. A copy of the memory reads the entries it was copied with where they lie (no one
/// writes inside them: appends go past the end of a buffer's handed-out entries, a rebuild makes a new cache), so
/// the many continuations of one stored memory do not rotate it again each.
final class BeaconAttendCache {
    /// Entries read where another memory's cache holds them.
    private let shared: [(keys: Tensor, values: Tensor)]
    let sharedCount: Int
    /// This memory's own entries: views `0 ..< ownCount` of buffers [1, kvHeads, capacity, headDim], made on the
    /// first append when the cache starts from shared entries.
    private var ownKeys: Tensor?
    private var ownValues: Tensor?
    private var ownCount = 0
    /// Entries a fresh own buffer has room for.
    private let room: Int

    var count: Int { sharedCount + ownCount }

    /// A cache of `rotatedKeys`/`values` ([1, kvHeads, n, headDim]) in `dtype` (theirs by default) with room for
    /// `room` more entries.
    init(rotatedKeys: Tensor, values: Tensor, room: Int, dtype: DType? = nil) throws {
        var shape = rotatedKeys.shape
        let n = shape[2]
        shape[2] = n + room
        let keys = try Tensor.empty(shape, dtype: dtype ?? rotatedKeys.dtype)
        let buffer = try Tensor.empty(shape, dtype: dtype ?? values.dtype)
        try keys.narrow(dim: 2, start: 0, length: n).copyFrom(rotatedKeys)
        try buffer.narrow(dim: 2, start: 0, length: n).copyFrom(values)
        (shared, sharedCount, ownKeys, ownValues, ownCount, self.room) = ([], 0, keys, buffer, n, room)
    }

    private init(shared: [(keys: Tensor, values: Tensor)], room: Int) {
        self.shared = shared
        self.sharedCount = shared.reduce(0) { $0 + $1.keys.dim(2) }
        self.room = room
    }

    /// A cache for a copy of the memory: it reads this one's current entries where they lie and appends into
    /// buffers of its own.
    func sharingCopy() throws -> BeaconAttendCache {
        BeaconAttendCache(shared: try segments(), room: room)
    }

    /// The valid entries, in order, as pieces (views; no copy).
    func segments() throws -> [(keys: Tensor, values: Tensor)] {
        guard let ownKeys, let ownValues, ownCount > 0 else { return shared }
        return shared + [(try ownKeys.narrow(dim: 2, start: 0, length: ownCount),
                          try ownValues.narrow(dim: 2, start: 0, length: ownCount))]
    }

    /// Appends a step's rotated keys and values; false (and nothing written) when they do not fit.
    func append(rotatedKeys: Tensor, values newValues: Tensor) throws -> Bool {
        let n = rotatedKeys.dim(2)
        if ownKeys == nil {
            var shape = rotatedKeys.shape
            shape[2] = max(room, n)
            let like = shared.first ?? (rotatedKeys, newValues)
            ownKeys = try Tensor.empty(shape, dtype: like.keys.dtype)
            ownValues = try Tensor.empty(shape, dtype: like.values.dtype)
        }
        guard let ownKeys, let ownValues, ownCount + n <= ownKeys.dim(2) else { return false }
        try ownKeys.narrow(dim: 2, start: ownCount, length: n).copyFrom(rotatedKeys)
        try ownValues.narrow(dim: 2, start: ownCount, length: n).copyFrom(newValues)
        ownCount += n
        return true
    }
}

extension BeaconMemory {
    /// What inference attends to before a step of `stepLength` entries at layer `layer`: the cached rotated memory
    /// when it is current, else rebuilt from the stored pre-RoPE entries (`tables` gives cos/sin for positions from
    /// 0, asked for only then). Without `keepCache` (a step that fills its window, after which positions change)
    /// nothing is cached.
    func attendableMemory(layer: Int, tables: () throws -> (cos: Tensor, sin: Tensor), stepLength: Int,
                          keepCache: Bool) throws -> [(keys: Tensor, values: Tensor)]
    {
        let m = entryCount(layer: layer)
        guard m > 0 else { return [] }
        if let cache = layers[layer].attendCache, cache.count == m { return try cache.segments() }
        guard let (keys, values) = try memoryKeysValues(layer: layer) else { return [] }
        let (cos, sin) = try tables()
        let rotated = try Functional.applyRotary(keys, cos: try cos.narrow(dim: 0, start: 0, length: m),
                                                 sin: try sin.narrow(dim: 0, start: 0, length: m))
        guard keepCache else {
            layers[layer].attendCache = nil
            return [(rotated, values)]
        }
        // Room for the rest of the window (raw tokens and their beacons) and this step.
        let room = settings.window + settings.window / 2 + stepLength + 8
        let cache = try BeaconAttendCache(rotatedKeys: rotated, values: values, room: room, dtype: attendDType)
        layers[layer].attendCache = cache
        return try cache.segments()
    }

    /// Entries layer `layer` holds now (during a step, layers before it have already taken the step in).
    func entryCount(layer: Int) -> Int {
        let s = layers[layer]
        return (s.sinkKeys?.dim(2) ?? 0) + (s.beaconKeys?.dim(2) ?? 0) + (s.rawKeys?.dim(2) ?? 0)
    }

    /// Keeps layer `layer`'s cache current after `absorb` took in a step whose keys, rotated at their positions,
    /// are `rotatedKeys`: appended while the window is unfinished, dropped when it fills (positions change) or
    /// when the memory no longer ends where the cache does.
    func updateAttendCache(layer: Int, rotatedKeys: Tensor, values: Tensor, previousLength: Int) throws {
        guard let cache = layers[layer].attendCache else { return }
        let keep = cache.count == previousLength && entryCount(layer: layer) == previousLength + rotatedKeys.dim(2)
            && settings.sinkSize == 0
        let appended = try keep && cache.append(rotatedKeys: rotatedKeys, values: values)
        if !appended { layers[layer].attendCache = nil }
    }
}
