import Foundation

// MARK: - Hash tables

@inline(__always)
private func mix64(_ x: UInt64) -> UInt64 {
    var z = x &* 0x9E37_79B9_7F4A_7C15
    z ^= z >> 29
    z = z &* 0xBF58_476D_1CE4_E5B9
    return z ^ (z >> 32)
}

/// FNV-1a over bytes, finalised with a mixer.
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for i in 0..<count { h = (h ^ UInt64(p[i])) &* 0x100_0000_01B3 }
    return mix64(h ^ UInt64(count))
}

/// Merge ranks by pair of ids: open addressing over fixed storage, read-only after building (shared by copies).
final class PairTable: @unchecked Sendable {
    static let absent = UInt64.max
    private let keys: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<UInt64>
    private let mask: Int
    private(set) var count = 0

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        mask = size - 1
        keys = .allocate(capacity: size)
        keys.initialize(repeating: PairTable.absent, count: size)
        values = .allocate(capacity: size)
        values.initialize(repeating: 0, count: size)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    @inline(__always)
    private static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    /// Inserts or overwrites (a later duplicate merge wins, as in HF's `HashMap` collect).
    func set(_ a: Int32, _ b: Int32, rank: UInt32, newID: Int32) {
        let k = PairTable.key(a, b)
        var i = Int(truncatingIfNeeded: mix64(k)) & mask
        while keys[i] != PairTable.absent && keys[i] != k { i = (i + 1) & mask }
        if keys[i] == PairTable.absent { count += 1 }
        keys[i] = k
        values[i] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: newID))
    }

    /// Every pair as (left id, right id), best rank first: the merges list again (a duplicate merge only at the
    /// rank that won), for writing `tokenizer.json`.
    func rankedPairs() -> [(left: Int32, right: Int32)] {
        var entries = [(rank: UInt64, left: Int32, right: Int32)]()
        entries.reserveCapacity(count)
        for i in 0...mask where keys[i] != PairTable.absent {
            let left = Int32(bitPattern: UInt32(keys[i] >> 32))
            let right = Int32(bitPattern: UInt32(keys[i] & 0xFFFF_FFFF))
            entries.append((values[i] >> 32, left, right))
        }
        entries.sort { $0.rank < $1.rank }
        return entries.map { ($0.left, $0.right) }
    }

    /// `rank << 32 | newID`, or `absent`. Smaller is a better merge; equal values are the same merge.
    @inline(__always)
    func get(_ a: Int32, _ b: Int32) -> UInt64 {
        let k = PairTable.key(a, b)
        var i = Int(truncatingIfNeeded: mix64(k)) & mask
        while true {
            let stored = keys[i]
            if stored == k { return values[i] }
            if stored == PairTable.absent { return PairTable.absent }
            i = (i + 1) & mask
        }
    }
}

/// Byte strings → values (word cache, whole-word vocabulary lookups). Not synchronised.
struct ByteStringTable {
    private var slots: [Int32]
    private var hashes: [UInt64] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var valueStart: [Int32] = []
    private var valueLength: [Int32] = []
    private var keyArena: [UInt8] = []
    private(set) var valueArena: [Int32] = []
    private var mask: Int

    var count: Int { hashes.count }
    var byteSize: Int { keyArena.count + valueArena.count * 4 + hashes.count * 24 + slots.count * 4 }

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    /// The range in `valueArena` stored for the key, nil when absent.
    func find(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64) -> Range<Int>? {
        var i = Int(truncatingIfNeeded: hash) & mask
        return keyArena.withUnsafeBufferPointer { arena in
            while true {
                let e = Int(slots[i])
                if e < 0 { return nil }
                if hashes[e] == hash && Int(keyLength[e]) == count
                    && memcmp(arena.baseAddress! + Int(keyStart[e]), p, count) == 0 {
                    let s = Int(valueStart[e])
                    return s..<(s + Int(valueLength[e]))
                }
                i = (i + 1) & mask
            }
        }
    }

    mutating func insert(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, values: UnsafeBufferPointer<Int32>) {
        if (hashes.count + 1) * 2 > slots.count { grow() }
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = Int32(hashes.count)
        hashes.append(hash)
        keyStart.append(Int32(keyArena.count))
        keyLength.append(Int32(count))
        keyArena.append(contentsOf: UnsafeBufferPointer(start: p, count: count))
        valueStart.append(Int32(valueArena.count))
        valueLength.append(Int32(values.count))
        valueArena.append(contentsOf: values)
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for (e, h) in hashes.enumerated() {
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(e)
        }
    }
}

/// HF's BPE word cache: shared by all copies of a tokenizer and all threads, bounded.
final class SharedWordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var table = ByteStringTable(capacity: 4096)
    private let maxBytes: Int

    init(maxBytes: Int = 32 << 20) { self.maxBytes = maxBytes }

    /// Appends the cached ids of the word to `out`; false when not cached.
    func lookup(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, into out: inout [Int32]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let r = table.find(p, count, hash: hash) else { return false }
        table.valueArena.withUnsafeBufferPointer { out.append(contentsOf: $0[r]) }
        return true
    }

    func insert(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, values: UnsafeBufferPointer<Int32>) {
        lock.lock()
        defer { lock.unlock() }
        if table.byteSize < maxBytes { table.insert(p, count, hash: hash, values: values) }
    }
}

// MARK: - Model

/// HF `tokenizers`' BPE model: initial symbols (characters, or bytes for byte-level vocabularies), unknown handling
/// (`byte_fallback`, `unk_token`, `fuse_unk`), `ignore_merges`, then merges applied lowest rank first, leftmost first.
struct BPEModel: Sendable {
    let merges: PairTable
    /// Byte-level: each input byte is one symbol (the ByteLevel pre-tokenizer's character for it).
    let byteLevel: Bool
    /// Byte-level: the id of each byte's character (-1 when the vocabulary lacks it).
    let byteIDs: [Int32]
    /// Character mode: ids of single-scalar tokens.
    let scalarIDs: [UInt32: Int32]
    /// `<0xNN>` ids (-1 where the vocabulary lacks one) when `byte_fallback`; nil otherwise.
    let byteFallbackIDs: [Int32]?
    let unkID: Int32?
    let fuseUnk: Bool
    /// `ignore_merges`: whole words found in the vocabulary (keys in the model's byte spelling).
    let wholeWords: ByteStringTable?
    let cache = SharedWordCache()

    static let maxCachedLength = 256
    static let shortWord = 48

    /// Appends the ids of one pre-tokenized piece.
    func tokenize(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, into out: inout [Int32], scratch: inout BPEScratch) {
        let start = p + range.lowerBound
        let count = range.count
        if count == 0 { return }
        let hash = hashBytes(start, count)
        if let w = wholeWords, let r = w.find(start, count, hash: hash) {
            w.valueArena.withUnsafeBufferPointer { out.append(contentsOf: $0[r]) }
            return
        }
        let cacheable = count < BPEModel.maxCachedLength
        if cacheable && cache.lookup(start, count, hash: hash, into: &out) { return }

        // Initial symbols.
        scratch.symbols.removeAll(keepingCapacity: true)
        var pendingUnk = false
        @inline(__always) func flushUnk() {
            if pendingUnk, let u = unkID { scratch.symbols.append(u) }
            pendingUnk = false
        }
        @inline(__always) func unknown(_ bytes: UnsafeBufferPointer<UInt8>) {
            if let fb = byteFallbackIDs, bytes.allSatisfy({ fb[Int($0)] >= 0 }) {
                flushUnk()
                for b in bytes { scratch.symbols.append(fb[Int(b)]) }
                return
            }
            guard unkID != nil else { return }  // no unk token: HF drops the character
            if pendingUnk && !fuseUnk { flushUnk() }
            pendingUnk = true
        }
        if byteLevel {
            for i in 0..<count {
                let b = start[i]
                let id = byteIDs[Int(b)]
                if id >= 0 {
                    flushUnk()
                    scratch.symbols.append(id)
                } else {
                    var utf8 = Array(String(Character(ByteLevel.byteToScalar[Int(b)])).utf8)
                    utf8.withUnsafeBufferPointer { unknown($0) }
                    utf8.removeAll()
                }
            }
        } else {
            var i = 0
            while i < count {
                let (v, n) = decodeScalar(start, i)
                if let id = scalarIDs[v] {
                    flushUnk()
                    scratch.symbols.append(id)
                } else {
                    unknown(UnsafeBufferPointer(start: start + i, count: n))
                }
                i += n
            }
        }
        flushUnk()

        let first = out.count
        let n = scratch.symbols.count
        if n > 0 {
            let m: Int
            if n <= BPEModel.shortWord {
                m = mergeShort(&scratch)
            } else {
                m = mergeLong(&scratch)
            }
            out.append(contentsOf: scratch.symbols[0..<m])
        }
        if cacheable {
            out.withUnsafeBufferPointer { cache.insert(start, count, hash: hash, values: UnsafeBufferPointer(rebasing: $0[first...])) }
        }
    }

    /// Quadratic merging for short words: find the best pair, merge, update its neighbours.
    private func mergeShort(_ scratch: inout BPEScratch) -> Int {
        var n = scratch.symbols.count
        if n < 2 { return n }
        let merges = self.merges
        if scratch.ranks.count < n { scratch.ranks = [UInt64](repeating: 0, count: max(n, 64)) }
        return scratch.symbols.withUnsafeMutableBufferPointer { sb in
            scratch.ranks.withUnsafeMutableBufferPointer { rb in
                let s = sb.baseAddress!, r = rb.baseAddress!
                for i in 0..<(n - 1) { r[i] = merges.get(s[i], s[i + 1]) }
                while n > 1 {
                    var best = PairTable.absent, bi = -1
                    for i in 0..<(n - 1) where r[i] < best { best = r[i]; bi = i }
                    if bi < 0 { break }
                    s[bi] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
                    let tail = n - bi - 2
                    if tail > 0 {
                        (s + bi + 1).update(from: s + bi + 2, count: tail)
                        (r + bi + 1).update(from: r + bi + 2, count: tail - 1)
                    }
                    n -= 1
                    if bi > 0 { r[bi - 1] = merges.get(s[bi - 1], s[bi]) }
                    if bi < n - 1 { r[bi] = merges.get(s[bi], s[bi + 1]) }
                }
                return n
            }
        }
    }

    /// HF's algorithm for long words: a min-heap of (rank, position) over a linked list of symbols.
    private func mergeLong(_ scratch: inout BPEScratch) -> Int {
        let n = scratch.symbols.count
        let merges = self.merges
        var prev = [Int32](repeating: -1, count: n)
        var next = [Int32](repeating: -1, count: n)
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        heap.reserve(n)
        return scratch.symbols.withUnsafeMutableBufferPointer { sb -> Int in
            let s = sb.baseAddress!
            for i in 0..<n {
                prev[i] = Int32(i - 1)
                next[i] = i + 1 < n ? Int32(i + 1) : -1
            }
            for i in 0..<(n - 1) {
                let m = merges.get(s[i], s[i + 1])
                if m != PairTable.absent { heap.push((m >> 32) << 32 | UInt64(i)) }
            }
            while let top = heap.pop() {
                let rank = top >> 32
                let pos = Int(top & 0xFFFF_FFFF)
                guard alive[pos], next[pos] >= 0 else { continue }
                let nx = Int(next[pos])
                let m = merges.get(s[pos], s[nx])
                guard m != PairTable.absent, m >> 32 == rank else { continue }  // stale entry
                s[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
                alive[nx] = false
                next[pos] = next[nx]
                if next[nx] >= 0 { prev[Int(next[nx])] = Int32(pos) }
                if prev[pos] >= 0 {
                    let pv = Int(prev[pos])
                    let m2 = merges.get(s[pv], s[pos])
                    if m2 != PairTable.absent { heap.push((m2 >> 32) << 32 | UInt64(pv)) }
                }
                if next[pos] >= 0 {
                    let m3 = merges.get(s[pos], s[Int(next[pos])])
                    if m3 != PairTable.absent { heap.push((m3 >> 32) << 32 | UInt64(pos)) }
                }
            }
            var w = 0
            for i in 0..<n where alive[i] {
                s[w] = s[i]
                w += 1
            }
            return w
        }
    }
}

/// Reusable buffers for one encode call.
struct BPEScratch {
    var symbols: [Int32] = []
    var ranks: [UInt64] = []
    var ranges: [Range<Int>] = []
    var spare: [Range<Int>] = []

    init() {
        symbols.reserveCapacity(64)
        ranges.reserveCapacity(64)
        spare.reserveCapacity(64)
    }
}

struct MinHeap {
    private var a: [UInt64] = []

    mutating func reserve(_ n: Int) { a.reserveCapacity(n) }

    mutating func push(_ x: UInt64) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if a[p] <= x { break }
            a[i] = a[p]
            i = p
        }
        a[i] = x
    }

    mutating func pop() -> UInt64? {
        guard let last = a.popLast() else { return nil }
        if a.isEmpty { return last }
        let top = a[0]
        var i = 0
        let n = a.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            let r = l + 1
            let c = r < n && a[r] < a[l] ? r : l
            if a[c] >= last { break }
            a[i] = a[c]
            i = c
        }
        a[i] = last
        return top
    }
}
