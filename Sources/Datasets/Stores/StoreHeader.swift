import Foundation
import Torch

/// The root attributes both stores share, validated on open: `format`, `version`, `vocab_size`,
/// `tokenizer_sha256`, `sources`.
struct StoreHeader {
    var vocabSize: Int
    var tokenizerSHA256: String
    var sources: [String]

    init(file: H5File, format: String, supportedVersion: Int, tokenizerSHA256 expected: String?) throws {
        let path = file.path
        guard let found = try file.stringsAttribute("format")?.first else {
            throw DataError.invalid(path: path, reason: "not a MemoRAG store (no format attribute; expected \(format))")
        }
        guard found == format else {
            throw DataError.invalid(path: path, reason: "format is \(found), expected \(format)")
        }
        guard let version = try file.intAttribute("version") else {
            throw DataError.invalid(path: path, reason: "no version attribute")
        }
        guard version >= 1, version <= supportedVersion else {
            throw DataError.invalid(path: path, reason: "version \(version) of \(format) is not supported "
                                        + "(this build reads up to \(supportedVersion))")
        }
        guard let vocab = try file.intAttribute("vocab_size"), vocab > 0, vocab <= Int64(UInt32.max) else {
            throw DataError.invalid(path: path, reason: "missing or bad vocab_size attribute")
        }
        vocabSize = Int(vocab)
        guard let hash = try file.stringsAttribute("tokenizer_sha256")?.first else {
            throw DataError.invalid(path: path, reason: "no tokenizer_sha256 attribute")
        }
        // Written as the hex sha256 of tokenizer.json: anything else is a damaged attribute, not another tokenizer.
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0 | 0x20) })
        else {
            throw DataError.invalid(path: path, reason: "tokenizer_sha256 attribute '\(hash.prefix(80))' is not a sha256 "
                                        + "(64 hex digits): the store is damaged; prepare the data again")
        }
        tokenizerSHA256 = hash
        if let expected, expected.lowercased() != hash.lowercased() {
            throw DataError.invalid(path: path, reason: "made with another tokenizer: its tokenizer_sha256 is \(hash), "
                                        + "but the tokenizer in use has \(expected.lowercased()); prepare the data again "
                                        + "with this tokenizer (memorag data prepare/sft --tokenizer)")
        }
        sources = try file.stringsAttribute("sources") ?? []
    }

    static func write(to file: H5File, format: String, version: Int, vocabSize: Int, tokenizerSHA256: String,
                      sources: [String]) throws {
        try file.setAttribute("format", format)
        try file.setAttribute("version", Int64(version))
        try file.setAttribute("vocab_size", Int64(vocabSize))
        try file.setAttribute("tokenizer_sha256", tokenizerSHA256)
        try file.setAttribute("sources", sources)
    }

    /// Offsets must start at 0, never decrease, and end at `total`.
    static func checkedOffsets(_ raw: [UInt64], total: Int, name: String, path: String) throws -> [Int] {
        guard let first = raw.first, first == 0 else {
            throw DataError.invalid(path: path, reason: "\(name) must start with 0")
        }
        guard raw.last == UInt64(total) else {
            throw DataError.invalid(path: path, reason: "\(name) ends at \(raw.last ?? 0), but the data has \(total) elements")
        }
        for i in 1..<raw.count where raw[i] < raw[i - 1] {
            throw DataError.invalid(path: path, reason: "\(name) decreases at entry \(i)")
        }
        return raw.map { Int($0) }
    }
}
