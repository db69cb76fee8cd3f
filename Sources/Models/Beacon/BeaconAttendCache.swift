import Torch

/// Inference only: one layer's memory as attention reads it — keys [sink; beacons; raw] with RoPE already applied
/// at their positions 0 ..< count, and the values — in buffers with room to grow.
///
/// Keys are stored before RoPE because positions are re-assigned when a window fills; between fills they stay put
/// (new entries only append), so rotating the whole memory and concatenating it again for every decoded token, as
/// the plain layout needs, is wasted work that grows with the memory. This cache is rebuilt once per window and
/// appended to in place otherwise. It belongs to one `BeaconMemory` alone (`copy()` leaves it behind), so writing
/// into its buffers never touches a tensor another memory can see.
final class BeaconAttendCache {
    let keys: Tensor    // [1, kvHeads, capacity, headDim]
    let values: Tensor
    private(set) var count: Int

    var capacity: Int { keys.dim(2) }

    /// A cache of `rotatedKeys`/`values` ([1, kvHeads, n, headDim]) in `dtype` (theirs by default) with room for
    /// `room` more entries.
    init(rotatedKeys: Tensor, values: Tensor, room: Int, dtype: DType? = nil) throws {
        var shape = rotatedKeys.shape
        let n = shape[2]
        shape[2] = n + room
        keys = try Tensor.empty(shape, dtype: dtype ?? rotatedKeys.dtype)
        self.values = try Tensor.empty(shape, dtype: dtype ?? values.dtype)
        try keys.narrow(dim: 2, start: 0, length: n).copyFrom(rotatedKeys)
        try self.values.narrow(dim: 2, start: 0, length: n).copyFrom(values)
        count = n
    }

    /// The valid entries (views into the buffers).
    func entries() throws -> (keys: Tensor, values: Tensor) {
        (try keys.narrow(dim: 2, start: 0, length: count), try values.narrow(dim: 2, start: 0, length: count))
    }

    /// Appends a step's rotated keys and values; false (and nothing written) when they do not fit.
    func append(rotatedKeys: Tensor, values newValues: Tensor) throws -> Bool {
        let n = rotatedKeys.dim(2)
        guard count + n <= capacity else { return false }
        try keys.narrow(dim: 2, start: count, length: n).copyFrom(rotatedKeys)
        try values.narrow(dim: 2, start: count, length: n).copyFrom(newValues)
        count += n
        return true
    }
}

extension BeaconMemory {
    /// What inference attends to before a step of `stepLength` entries at layer `layer`: the cached rotated memory
    /// when it is current, else rebuilt from the stored pre-RoPE entries (`tables` gives cos/sin for positions from
    /// 0, asked for only then). Without `keepCache` (a step that fills its window, after which positions change)
    /// nothing is cached.
    func attendableMemory(layer: Int, tables: () throws -> (cos: Tensor, sin: Tensor), stepLength: Int,
                          keepCache: Bool) throws -> (keys: Tensor, values: Tensor)?
    {
        let m = entryCount(layer: layer)
        guard m > 0 else { return nil }
        if let cache = layers[layer].attendCache, cache.count == m { return try cache.entries() }
        guard let (keys, values) = try memoryKeysValues(layer: layer) else { return nil }
        let (cos, sin) = try tables()
        let rotated = try Functional.applyRotary(keys, cos: try cos.narrow(dim: 0, start: 0, length: m),
                                                 sin: try sin.narrow(dim: 0, start: 0, length: m))
        guard keepCache else {
            layers[layer].attendCache = nil
            return (rotated, values)
        }
        // Room for the rest of the window (raw tokens and their beacons) and this step.
        let room = settings.window + settings.window / 2 + stepLength + 8
        let cache = try BeaconAttendCache(rotatedKeys: rotated, values: values, room: room, dtype: attendDType)
        layers[layer].attendCache = cache
        return try cache.entries()
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
