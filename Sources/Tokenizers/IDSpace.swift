/// The id space of a vocabulary: every id non-negative, and the largest one near the number of entries. Tokenizers
/// keep per-id tables as long as the largest id, so one corrupt id of 10⁹ would allocate gigabytes; real
/// vocabularies are dense (a few reserved holes at most), so an id far past the entries is refused instead.
enum IDSpace {
    /// The table length (largest id + 1) for `ids` of `entries` distinct tokens; `path` names the file in errors.
    static func size(_ ids: some Sequence<Int>, entries: Int, path: String) throws -> Int {
        var largest = -1
        for id in ids {
            guard id >= 0 else { throw TokenizerError.invalid(path: path, reason: "negative token id \(id)") }
            largest = max(largest, id)
        }
        let limit = entries + max(entries, 1 << 16)
        guard largest < limit else {
            throw TokenizerError.invalid(path: path, reason: "token id \(largest) is far beyond the \(entries) "
                + "entries of the vocabulary (ids must stay below \(limit))")
        }
        return largest + 1
    }
}
