import CHDF5
import Foundation

/// A 1-D dataset: appended to while writing (chunked, extendible, optionally deflate-compressed), read by ranges.
final class H5Dataset: @unchecked Sendable {
    let id: hid_t
    let name: String
    let path: String  // the file, for messages
    /// The type values are written and read as (a native integer type, or an enum type).
    private let memoryType: hid_t
    private let ownsMemoryType: Bool
    private(set) var count: Int

    private init(id: hid_t, name: String, path: String, memoryType: hid_t, ownsMemoryType: Bool, count: Int) {
        self.id = id
        self.name = name
        self.path = path
        self.memoryType = memoryType
        self.ownsMemoryType = ownsMemoryType
        self.count = count
    }

    deinit {
        HDF5.run {
            if ownsMemoryType { H5Tclose(memoryType) }
            H5Dclose(id)
        }
    }

    /// Creates an empty extendible dataset of `T` with chunks of `chunk` elements; `deflate` is the zlib level.
    static func create<T: HDF5Integer>(in file: H5File, name: String, of type: T.Type, chunk: Int,
                                       deflate: Int? = 4) throws -> H5Dataset {
        try create(in: file, name: name, fileType: T.fileType, memoryType: T.memoryType, ownsType: false,
                   chunk: chunk, deflate: deflate)
    }

    /// Creates an empty extendible dataset of a uint8 enum with the given member names (values 0, 1, …).
    static func createEnum(in file: H5File, name: String, members: [String], chunk: Int) throws -> H5Dataset {
        let type = try HDF5.run {
            let t = H5Tenum_create(mr_h5t_std_u8le())
            try HDF5.check(t) { .writeFailed(path: file.path, reason: "enum type for \(name): \($0)") }
            for (i, member) in members.enumerated() {
                var value = UInt8(i)
                try HDF5.check(H5Tenum_insert(t, member, &value)) { .writeFailed(path: file.path, reason: "enum \(member): \($0)") }
            }
            return t
        }
        return try create(in: file, name: name, fileType: type, memoryType: type, ownsType: true, chunk: chunk,
                          deflate: 4)
    }

    private static func create(in file: H5File, name: String, fileType: hid_t, memoryType: hid_t, ownsType: Bool,
                               chunk: Int, deflate: Int?) throws -> H5Dataset {
        try HDF5.run {
            let fail: (String) -> DataError = { .writeFailed(path: file.path, reason: "dataset \(name): \($0)") }
            var dims: [hsize_t] = [0]
            var maxDims: [hsize_t] = [mr_h5s_unlimited()]
            let space = H5Screate_simple(1, &dims, &maxDims)
            try HDF5.check(space, fail)
            defer { H5Sclose(space) }
            let plist = H5Pcreate(mr_h5p_dataset_create())
            try HDF5.check(plist, fail)
            defer { H5Pclose(plist) }
            var chunkDims: [hsize_t] = [hsize_t(max(1, chunk))]
            try HDF5.check(H5Pset_chunk(plist, 1, &chunkDims), fail)
            if let level = deflate { try HDF5.check(H5Pset_deflate(plist, UInt32(level)), fail) }
            let id = H5Dcreate2(file.id, name, fileType, space, 0, plist, 0)
            try HDF5.check(id, fail)
            return H5Dataset(id: id, name: name, path: file.path, memoryType: memoryType, ownsMemoryType: ownsType,
                             count: 0)
        }
    }

    /// Opens a 1-D dataset and checks that its elements are `T` (integer class, size, signedness).
    static func open<T: HDF5Integer>(in file: H5File, name: String, of type: T.Type) throws -> H5Dataset {
        try open(in: file, name: name) { fileType in
            guard H5Tget_class(fileType) == H5T_INTEGER, H5Tget_size(fileType) == MemoryLayout<T>.size,
                  (H5Tget_sign(fileType) == H5T_SGN_2) == T.isSigned
            else {
                return "must hold \(T.isSigned ? "" : "u")int\(MemoryLayout<T>.size * 8)"
            }
            return nil
        } memoryType: { _ in (T.memoryType, false) }
    }

    /// Opens a 1-D uint8 enum dataset whose members must be exactly `members` with values 0, 1, ….
    static func openEnum(in file: H5File, name: String, members: [String]) throws -> H5Dataset {
        try open(in: file, name: name) { fileType in
            guard H5Tget_class(fileType) == H5T_ENUM, H5Tget_size(fileType) == 1,
                  H5Tget_nmembers(fileType) == Int32(members.count)
            else { return "must be a uint8 enum of \(members.joined(separator: " | "))" }
            for (i, member) in members.enumerated() {
                var value: UInt8 = 0
                guard let cName = H5Tget_member_name(fileType, UInt32(i)) else { return "unreadable enum member" }
                let memberName = String(cString: cName)
                H5free_memory(cName)
                H5Tget_member_value(fileType, UInt32(i), &value)
                if memberName != member || value != UInt8(i) {
                    return "enum member \(i) is \(memberName)=\(value), expected \(member)=\(i)"
                }
            }
            return nil
        } memoryType: { fileType in (H5Tcopy(fileType), true) }
    }

    private static func open(in file: H5File, name: String, typeProblem: (hid_t) -> String?,
                             memoryType: (hid_t) -> (hid_t, Bool)) throws -> H5Dataset {
        guard file.exists(name) else { throw DataError.invalid(path: file.path, reason: "missing dataset \(name)") }
        return try HDF5.run {
            let id = H5Dopen2(file.id, name, 0)
            try HDF5.check(id) { .unreadable(path: file.path, reason: "dataset \(name): \($0)") }
            let fileType = H5Dget_type(id)
            defer { H5Tclose(fileType) }
            if let problem = typeProblem(fileType) {
                H5Dclose(id)
                throw DataError.invalid(path: file.path, reason: "dataset \(name) \(problem)")
            }
            let space = H5Dget_space(id)
            defer { H5Sclose(space) }
            guard H5Sget_simple_extent_ndims(space) == 1 else {
                H5Dclose(id)
                throw DataError.invalid(path: file.path, reason: "dataset \(name) must be 1-D")
            }
            var dims: [hsize_t] = [0]
            H5Sget_simple_extent_dims(space, &dims, nil)
            let (mem, owns) = memoryType(fileType)
            return H5Dataset(id: id, name: name, path: file.path, memoryType: mem, ownsMemoryType: owns,
                             count: Int(dims[0]))
        }
    }

    /// Appends values at the end (the dataset grows by `values.count`).
    func append<T: HDF5Integer>(_ values: [T]) throws {
        guard !values.isEmpty else { return }
        try HDF5.run {
            let fail: (String) -> DataError = { [name, path] in .writeFailed(path: path, reason: "append to \(name): \($0)") }
            var newSize: [hsize_t] = [hsize_t(count + values.count)]
            try HDF5.check(H5Dset_extent(id, &newSize), fail)
            let fileSpace = H5Dget_space(id)
            defer { H5Sclose(fileSpace) }
            var start: [hsize_t] = [hsize_t(count)]
            var n: [hsize_t] = [hsize_t(values.count)]
            try HDF5.check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &n, nil), fail)
            let memSpace = H5Screate_simple(1, &n, nil)
            defer { H5Sclose(memSpace) }
            _ = try values.withUnsafeBufferPointer { buffer in
                try HDF5.check(H5Dwrite(id, memoryType, memSpace, fileSpace, 0, buffer.baseAddress), fail)
            }
            count += values.count
        }
    }

    /// Elements `range` (which must lie inside the dataset).
    func read<T: HDF5Integer>(_ range: Range<Int>, as type: T.Type = T.self) throws -> [T] {
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw DataError.invalid(path: path, reason: "read of \(name)[\(range.lowerBound)..<\(range.upperBound)] "
                                        + "outside its \(count) elements")
        }
        if range.isEmpty { return [] }
        return try HDF5.run {
            let fail: (String) -> DataError = { [name, path] in .unreadable(path: path, reason: "reading \(name): \($0)") }
            let fileSpace = H5Dget_space(id)
            defer { H5Sclose(fileSpace) }
            var start: [hsize_t] = [hsize_t(range.lowerBound)]
            var n: [hsize_t] = [hsize_t(range.count)]
            try HDF5.check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &n, nil), fail)
            let memSpace = H5Screate_simple(1, &n, nil)
            defer { H5Sclose(memSpace) }
            var out = [T](repeating: 0, count: range.count)
            _ = try out.withUnsafeMutableBufferPointer { buffer in
                try HDF5.check(H5Dread(id, memoryType, memSpace, fileSpace, 0, buffer.baseAddress), fail)
            }
            return out
        }
    }

    /// All elements, read in pieces of `piece` (bounded memory for the caller's fold).
    func forEachPiece<T: HDF5Integer>(of type: T.Type, piece: Int = 1 << 20, _ body: (Int, [T]) throws -> Void) throws {
        var start = 0
        while start < count {
            let end = min(count, start + piece)
            try body(start, try read(start..<end, as: T.self))
            start = end
        }
    }
}
