import CZlib
import Foundation

/// zlib's inflate for the corpus tools: zlib streams (R lazy-load blobs) and gzip files (R `.rdx`, dictd `.dz`).
enum Zlib {
    /// Inflates one zlib or gzip stream (detected from its header). `expectedSize` (when known) sizes the output;
    /// a stream that ends early or carries trailing garbage is an error naming `source`.
    static func inflate(_ input: Data, expectedSize: Int? = nil, source: String) throws -> Data {
        var stream = z_stream()
        // 15 + 32: a 32 KiB window with automatic zlib/gzip header detection.
        guard mr_inflate_init2(&stream, 15 + 32) == Z_OK else {
            throw DataError.corpus(source: source, reason: "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output = Data(count: max(expectedSize ?? input.count * 4, 1024))
        var produced = 0
        var status: Int32 = Z_OK
        try input.withUnsafeBytes { (inRaw: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: inRaw.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(inRaw.count)
            repeat {
                if produced == output.count { output.count *= 2 }
                let room = output.count - produced
                status = output.withUnsafeMutableBytes { (outRaw: UnsafeMutableRawBufferPointer) -> Int32 in
                    stream.next_out = outRaw.bindMemory(to: Bytef.self).baseAddress! + produced
                    stream.avail_out = uInt(room)
                    let s = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return s
                }
                if status == Z_NEED_DICT || status == Z_DATA_ERROR || status == Z_MEM_ERROR {
                    let message = stream.msg.map { String(cString: $0) } ?? "code \(status)"
                    throw DataError.corpus(source: source, reason: "corrupt compressed data (\(message))")
                }
                if status == Z_BUF_ERROR && stream.avail_in == 0 {
                    throw DataError.corpus(source: source, reason: "compressed data ends early (truncated?)")
                }
            } while status != Z_STREAM_END
        }
        output.count = produced
        if let expectedSize, expectedSize != produced {
            throw DataError.corpus(source: source, reason: "inflated to \(produced) bytes, header said \(expectedSize)")
        }
        return output
    }

    /// Inflates a file of concatenated gzip members (dictzip `.dz` files are one member; `gzip -c a b` makes two).
    static func gunzipFile(_ url: URL) throws -> Data {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DataError.corpus(source: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try inflate(data, source: url.path)
    }
}
