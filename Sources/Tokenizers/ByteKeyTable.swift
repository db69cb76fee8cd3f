/// An open-addressing hash set of byte strings, each given a dense index (0, 1, … in insertion order), looked up
/// straight from a pointer and a length, so hot loops (WordPiece lookups, the BPE trainer's word counts) neither
/// build `String`s nor hash them with Unicode normalization. Callers keep per-entry values in parallel arrays.
struct ByteKeyTable: Sendable {
    /// Every key's bytes, one after another.
    private(set) var storage: [UInt8] = []
    /// Where each entry's key starts in `storage`, plus a final end offset (`count + 1` elements).
    private(set) var offsets: [Int] = [0]
    private var hashes: [UInt64] = []
    /// Entry index + 1 per slot, 0 for an empty slot.
    private var slots: [Int32]
    private var mask: Int

    init(minimumCapacity: Int = 16) {
        var size = 16
        while size < minimumCapacity * 2 { size <<= 1 }
        slots = [Int32](repeating: 0, count: size)
        mask = size - 1
    }

    var count: Int { hashes.count }

    /// The bytes of entry `index`.
    func key(_ index: Int) -> ArraySlice<UInt8> { storage[offsets[index]..<offsets[index + 1]] }

    /// The length in bytes of entry `index`.
    func keyLength(_ index: Int) -> Int { offsets[index + 1] - offsets[index] }

    @inline(__always)
    static func hash(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: count)
        var i = 0
        let raw = UnsafeRawPointer(bytes)
        while i + 8 <= count {
            let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ word) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        if i < count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < count {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        }
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return h
    }

    /// The index of the entry equal to `bytes[0..<count]`, or -1.
    @inline(__always)
    func find(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int {
        let h = Self.hash(bytes, count)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = Int(slots[slot]) - 1
            if entry < 0 { return -1 }
            if hashes[entry] == h {
                let start = offsets[entry]
                if offsets[entry + 1] - start == count
                    && storage.withUnsafeBufferPointer({ count == 0 || memcmpBytes($0.baseAddress! + start, bytes, count) }) {
                    return entry
                }
            }
            slot = (slot + 1) & mask
        }
    }

    func find(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                var empty: UInt8 = 0
                return find(&empty, 0)
            }
            return find(base, buffer.count)
        }
    }

    /// The index of the entry equal to `bytes[0..<count]`, inserting it when absent.
    @discardableResult
    mutating func insert(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> (index: Int, inserted: Bool) {
        let h = Self.hash(bytes, count)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = Int(slots[slot]) - 1
            if entry < 0 { break }
            if hashes[entry] == h {
                let start = offsets[entry]
                if offsets[entry + 1] - start == count
                    && storage.withUnsafeBufferPointer({ count == 0 || memcmpBytes($0.baseAddress! + start, bytes, count) }) {
                    return (entry, false)
                }
            }
            slot = (slot + 1) & mask
        }
        let index = hashes.count
        storage.append(contentsOf: UnsafeBufferPointer(start: bytes, count: count))
        offsets.append(storage.count)
        hashes.append(h)
        slots[slot] = Int32(index + 1)
        if (index + 1) * 2 > slots.count { grow() }
        return (index, true)
    }

    @discardableResult
    mutating func insert(_ bytes: [UInt8]) -> (index: Int, inserted: Bool) {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                var empty: UInt8 = 0
                return insert(&empty, 0)
            }
            return insert(base, buffer.count)
        }
    }

    private mutating func grow() {
        let size = slots.count * 2
        var newSlots = [Int32](repeating: 0, count: size)
        let newMask = size - 1
        for (index, h) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: h) & newMask
            while newSlots[slot] != 0 { slot = (slot + 1) & newMask }
            newSlots[slot] = Int32(index + 1)
        }
        slots = newSlots
        mask = newMask
    }
}

@inline(__always)
private func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    var i = 0
    while i + 8 <= count {
        if UnsafeRawPointer(a).loadUnaligned(fromByteOffset: i, as: UInt64.self)
            != UnsafeRawPointer(b).loadUnaligned(fromByteOffset: i, as: UInt64.self) {
            return false
        }
        i += 8
    }
    while i < count {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
