import Foundation
import Retrieval

/// `chunks.jsonl`: one passage per line, `{"id", "text", "start", "end", "doc"}`, ids 0..<n in order.
enum ChunkFile {
    static func write(_ chunks: [Chunk], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for chunk in chunks {
            data.append(try encoder.encode(chunk))
            data.append(UInt8(ascii: "\n"))
        }
        try data.write(to: url)
    }

    static func read(_ url: URL) throws -> [Chunk] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MemoRAGError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let decoder = JSONDecoder()
        var chunks: [Chunk] = []
        for (number, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            do { chunks.append(try decoder.decode(Chunk.self, from: Data(line))) } catch {
                throw MemoRAGError.corrupt(path: url.path, reason: "line \(number + 1) is not a chunk: \(error)")
            }
            guard chunks.last!.id == number else {
                throw MemoRAGError.corrupt(path: url.path, reason: "line \(number + 1) has id \(chunks.last!.id), expected \(number)")
            }
        }
        return chunks
    }
}
