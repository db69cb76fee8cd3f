import NN
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
    /// This memory's own entries, in growable buffers (`KVCacheLayer`) of the cache's dtype.
    private let own: KVCacheLayer
    /// Spare entries a cache's own buffers start with (the rest of a window), and the dtype they keep.
    private let room: Int
    private let dtype: DType

    var count: Int { sharedCount + own.count }

    /// A cache of `rotatedKeys`/`values` ([1, kvHeads, n, headDim]) in `dtype` (theirs by default) with room for
    /// `room` more entries.
    init(rotatedKeys: Tensor, values: Tensor, room: Int, dtype: DType? = nil) throws {
        let dtype = dtype ?? rotatedKeys.dtype
        (shared, sharedCount, self.room, self.dtype) = ([], 0, room, dtype)
        own = KVCacheLayer(reserving: rotatedKeys.dim(2) + room, dtype: dtype)
        try own.extend(keys: rotatedKeys, values: values)
    }

    private init(shared: [(keys: Tensor, values: Tensor)], room: Int, dtype: DType) {
        (self.shared, self.room, self.dtype) = (shared, room, dtype)
        sharedCount = shared.reduce(0) { $0 + $1.keys.dim(2) }
        own = KVCacheLayer(reserving: room, dtype: dtype)
    }

    /// A cache for a copy of the memory: it reads this one's current entries where they lie and appends into
    /// buffers of its own.
    func sharingCopy() throws -> BeaconAttendCache {
        BeaconAttendCache(shared: try segments(), room: room, dtype: dtype)
    }

    /// The valid entries, in order, as pieces (views; no copy).
    func segments() throws -> [(keys: Tensor, values: Tensor)] {
        guard let keys = own.keys, let values = own.values else { return shared }
        return shared + [(keys, values)]
    }

    /// Appends a step's rotated keys and values (converted to the cache's dtype).
    func append(rotatedKeys: Tensor, values: Tensor) throws {
        try own.extend(keys: rotatedKeys, values: values)
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
        if keep { try cache.append(rotatedKeys: rotatedKeys, values: values) } else { layers[layer].attendCache = nil }
    }
}
