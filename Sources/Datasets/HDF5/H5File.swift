import CHDF5
import Foundation

/// An open HDF5 file (closed in deinit). Attributes named here live on the root group.
final class H5File: @unchecked Sendable {
    let id: hid_t
    let path: String

    private init(id: hid_t, path: String) {
        self.id = id
        self.path = path
    }

    deinit { HDF5.run { _ = H5Fclose(id) } }

    /// Creates (truncating) a file for writing.
    static func create(path: String) throws -> H5File {
        try HDF5.run {
            let id = H5Fcreate(path, mr_h5f_acc_trunc(), 0, 0)
            try HDF5.check(id) { .writeFailed(path: path, reason: "cannot create HDF5 file: \($0)") }
            return H5File(id: id, path: path)
        }
    }

    /// Opens an existing file read-only; a missing, non-HDF5 or truncated file is `DataError.unreadable`.
    static func open(path: String) throws -> H5File {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError.unreadable(path: path, reason: "no such file")
        }
        return try HDF5.run {
            if H5Fis_hdf5(path) <= 0 {
                _ = HDF5.takeErrorStack()
                throw DataError.unreadable(path: path, reason: "not an HDF5 file (or its header is damaged)")
            }
            let id = H5Fopen(path, mr_h5f_acc_rdonly(), 0)
            try HDF5.check(id) { .unreadable(path: path, reason: "HDF5 cannot open it (truncated or damaged?): \($0)") }
            return H5File(id: id, path: path)
        }
    }

    func createGroup(_ name: String) throws {
        try HDF5.run {
            let g = H5Gcreate2(id, name, 0, 0, 0)
            try HDF5.check(g) { .writeFailed(path: path, reason: "cannot create group \(name): \($0)") }
            H5Gclose(g)
        }
    }

    func exists(_ name: String) -> Bool {
        HDF5.run {
            // Check each path component: H5Lexists fails on a missing intermediate group.
            var prefix = ""
            for part in name.split(separator: "/") {
                prefix += "/" + part
                if H5Lexists(id, prefix, 0) <= 0 {
                    _ = HDF5.takeErrorStack()
                    return false
                }
            }
            return true
        }
    }

    /// Flushes everything to disk.
    func flush() throws {
        try HDF5.run {
            _ = try HDF5.check(H5Fflush(id, H5F_SCOPE_GLOBAL)) { .writeFailed(path: path, reason: "flush: \($0)") }
        }
    }

    // MARK: root attributes

    func setAttribute(_ name: String, _ value: String) throws { try setStrings(name, [value], scalar: true) }
    func setAttribute(_ name: String, _ values: [String]) throws { try setStrings(name, values, scalar: false) }

    func setAttribute(_ name: String, _ value: Int64) throws {
        try HDF5.run {
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            let attr = H5Acreate2(id, name, Int64.fileType, space, 0, 0)
            try HDF5.check(attr) { .writeFailed(path: path, reason: "attribute \(name): \($0)") }
            defer { H5Aclose(attr) }
            var v = value
            try HDF5.check(H5Awrite(attr, Int64.memoryType, &v)) { .writeFailed(path: path, reason: "attribute \(name): \($0)") }
        }
    }

    private func setStrings(_ name: String, _ values: [String], scalar: Bool) throws {
        try HDF5.run {
            let type = H5Tcopy(mr_h5t_c_s1())
            defer { H5Tclose(type) }
            H5Tset_size(type, Int(bitPattern: UInt(bitPattern: -1)))  // H5T_VARIABLE
            H5Tset_cset(type, H5T_CSET_UTF8)
            var dims = [hsize_t(values.count)]
            // An empty list is a null dataspace (h5py reads it as an empty attribute).
            let space = scalar ? H5Screate(H5S_SCALAR)
                : values.isEmpty ? H5Screate(H5S_NULL) : H5Screate_simple(1, &dims, nil)
            defer { H5Sclose(space) }
            let attr = H5Acreate2(id, name, type, space, 0, 0)
            try HDF5.check(attr) { .writeFailed(path: path, reason: "attribute \(name): \($0)") }
            defer { H5Aclose(attr) }
            if values.isEmpty { return }
            let cStrings = values.map { strdup($0) }
            defer { cStrings.forEach { free($0) } }
            var pointers: [UnsafePointer<CChar>?] = cStrings.map { UnsafePointer($0) }
            try HDF5.check(H5Awrite(attr, type, &pointers)) { .writeFailed(path: path, reason: "attribute \(name): \($0)") }
        }
    }

    /// A string (or the strings) of a root attribute; nil when absent. Fixed-length and variable-length strings are
    /// both read (h5py writes variable-length ones).
    func stringsAttribute(_ name: String) throws -> [String]? {
        try readAttribute(name) { attr, fileType, space in
            guard H5Tget_class(fileType) == H5T_STRING else {
                throw DataError.invalid(path: path, reason: "attribute \(name) is not a string")
            }
            let count = Int(H5Sget_simple_extent_npoints(space))
            if H5Tis_variable_str(fileType) > 0 {
                let memType = H5Tcopy(mr_h5t_c_s1())
                defer { H5Tclose(memType) }
                H5Tset_size(memType, Int(bitPattern: UInt(bitPattern: -1)))
                H5Tset_cset(memType, H5Tget_cset(fileType))
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                try HDF5.check(H5Aread(attr, memType, &pointers)) { .invalid(path: path, reason: "attribute \(name): \($0)") }
                defer { pointers.forEach { if let p = $0 { H5free_memory(p) } } }
                return pointers.map { $0.map { String(cString: $0) } ?? "" }
            }
            let size = H5Tget_size(fileType)
            var bytes = [UInt8](repeating: 0, count: size * count)
            try HDF5.check(H5Aread(attr, fileType, &bytes)) { .invalid(path: path, reason: "attribute \(name): \($0)") }
            return (0..<count).map { i in
                let slice = bytes[(i * size)..<((i + 1) * size)]
                let end = slice.firstIndex(of: 0) ?? slice.endIndex
                return String(decoding: slice[slice.startIndex..<end], as: UTF8.self)
            }
        }
    }

    /// An integer root attribute (any integer file type, converted by HDF5); nil when absent.
    func intAttribute(_ name: String) throws -> Int64? {
        try readAttribute(name) { attr, fileType, space in
            guard H5Tget_class(fileType) == H5T_INTEGER, H5Sget_simple_extent_npoints(space) == 1 else {
                throw DataError.invalid(path: path, reason: "attribute \(name) is not a single integer")
            }
            var v: Int64 = 0
            try HDF5.check(H5Aread(attr, Int64.memoryType, &v)) { .invalid(path: path, reason: "attribute \(name): \($0)") }
            return v
        }
    }

    /// Runs `read` on root attribute `name` with its file type and dataspace (all three closed after); nil when the
    /// attribute is absent. The one place both attribute readers open an attribute.
    private func readAttribute<T>(_ name: String, _ read: (_ attr: hid_t, _ fileType: hid_t, _ space: hid_t) throws -> T)
        throws -> T? {
        try HDF5.run {
            if H5Aexists(id, name) <= 0 { _ = HDF5.takeErrorStack(); return nil }
            let attr = H5Aopen(id, name, 0)
            try HDF5.check(attr) { .invalid(path: path, reason: "attribute \(name): \($0)") }
            defer { H5Aclose(attr) }
            let fileType = H5Aget_type(attr)
            defer { H5Tclose(fileType) }
            let space = H5Aget_space(attr)
            defer { H5Sclose(space) }
            return try read(attr, fileType, space)
        }
    }
}
