import Foundation

// Moving tensors in and out of safetensors files. The readers are pure Swift over a memory mapping; here each entry
// becomes a libtorch tensor (one copy, from the mapping into libtorch's storage).

extension SafetensorsFile {
    /// Tensor `name`, copied out of the mapping.
    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else { throw SafetensorsError.tensorNotFound(path: url.path, tensor: name) }
        return try withBytes(of: name) { try Tensor(bytes: $0, dtype: entry.dtype, shape: entry.shape) }
    }

    /// Every tensor in the file, by name.
    public func tensors() throws -> [String: Tensor] {
        try Dictionary(uniqueKeysWithValues: names.map { ($0, try tensor($0)) })
    }
}

extension SafetensorsCheckpoint {
    public func tensor(_ name: String) throws -> Tensor {
        guard let file = file(containing: name) else {
            throw SafetensorsError.tensorNotFound(path: (indexURL ?? directory).path, tensor: name)
        }
        return try file.tensor(name)
    }

    public func tensors() throws -> [String: Tensor] {
        try Dictionary(uniqueKeysWithValues: names.map { ($0, try tensor($0)) })
    }
}

/// Whole-file conveniences.
public enum Safetensors {
    public static func load(_ url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file = try SafetensorsFile(url: url)
        return (try file.tensors(), file.metadata)
    }

    /// Writes `tensors` (atomically: a temporary file renamed into place) with optional string metadata.
    public static func save(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let items = try tensors.keys.sorted().map { name -> SafetensorsWriter.Tensor in
            let t = tensors[name]!
            return SafetensorsWriter.Tensor(name: name, dtype: t.dtype, shape: t.shape, data: Data(try t.bytes()))
        }
        try SafetensorsWriter.write(items, metadata: metadata, to: url)
    }
}
