import Foundation

/// An R lazy-load database (`NAME.rdx` index + `NAME.rdb` blobs), as R packages ship their data sets
/// (`data/Rdata.rdx`). The index is a gzip-compressed serialised list whose `variables` entry maps each object's
/// name to (offset, length) in the `.rdb`; each blob is a 4-byte big-endian uncompressed size followed by a zlib
/// stream (compression type 1), or by a type byte ('Z' zlib, '0' none) for types 2/3 (bzip2 and xz are refused).
public struct RLazyLoadDB {
    public let indexURL: URL
    public let blobsURL: URL
    /// Object name → (offset, length) in the `.rdb`.
    public let variables: [String: (offset: Int, length: Int)]
    public let compression: Int

    /// `base` is the path without extension (e.g. `.../janeaustenr/data/Rdata`).
    public init(base: URL) throws {
        indexURL = base.appendingPathExtension("rdx")
        blobsURL = base.appendingPathExtension("rdb")
        let index = try RUnserializer.unserialize(try Zlib.gunzipFile(indexURL), source: indexURL.path)
        guard case .list(let parts, _) = index, let names = index.names,
              let variablesAt = names.firstIndex(of: "variables"),
              case .list(let entries, _) = parts[variablesAt], let entryNames = parts[variablesAt].names
        else {
            throw DataError.corpus(source: indexURL.path, reason: "not a lazy-load index (no `variables` list)")
        }
        var table: [String: (offset: Int, length: Int)] = [:]
        for (name, entry) in zip(entryNames, entries) {
            guard let name, case .integer(let pair, _) = entry, pair.count == 2, let o = pair[0], let l = pair[1],
                  o >= 0, l > 4
            else {
                throw DataError.corpus(source: indexURL.path, reason: "bad index entry \(name ?? "?")")
            }
            table[name] = (Int(o), Int(l))
        }
        variables = table
        if let at = names.firstIndex(of: "compressed"), case .logical(let v, _) = parts[at] {
            compression = Int(v.first.flatMap { $0 } ?? 1)
        } else if let at = names.firstIndex(of: "compressed"), case .integer(let v, _) = parts[at] {
            compression = Int(v.first.flatMap { $0 } ?? 1)
        } else {
            compression = 1
        }
    }

    public var names: [String] { variables.keys.sorted() }

    /// The object stored under `name`.
    public func object(_ name: String) throws -> RValue {
        guard let (offset, length) = variables[name] else {
            throw DataError.corpus(source: blobsURL.path, reason: "no object named \(name) (have: \(names.joined(separator: ", ")))")
        }
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: blobsURL) } catch {
            throw DataError.corpus(source: blobsURL.path, reason: "cannot read: \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let blob = handle.readData(ofLength: length)
        guard blob.count == length else {
            throw DataError.corpus(source: blobsURL.path, reason: "object \(name) runs past the end of the file (truncated?)")
        }
        let size = Int(blob.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        var body = blob.dropFirst(4)
        if compression == 2 || compression == 3 {
            let kind = body.first.map { Character(Unicode.Scalar($0)) }
            body = body.dropFirst()
            switch kind {
            case "0": return try RUnserializer.unserialize(Data(body), source: "\(blobsURL.path):\(name)")
            case "Z": break
            default:
                throw DataError.corpus(source: blobsURL.path, reason: "object \(name) uses compression '\(kind.map(String.init) ?? "?")' "
                                           + "(bzip2/xz are not supported; only zlib)")
            }
        }
        let inflated = try Zlib.inflate(Data(body), expectedSize: size, source: "\(blobsURL.path):\(name)")
        return try RUnserializer.unserialize(inflated, source: "\(blobsURL.path):\(name)")
    }

    /// A character-vector object as its strings (NA as empty lines).
    public func lines(_ name: String) throws -> [String] {
        guard case .string(let values, _) = try object(name) else {
            throw DataError.corpus(source: blobsURL.path, reason: "object \(name) is not a character vector")
        }
        return values.map { $0 ?? "" }
    }
}
