import Foundation
import Hummingbird
import MemoRAG

/// Reading request bodies: a size limit (413), strict UTF-8, and JSON decoding whose failures name the field and
/// what was wrong with it (400), instead of a bare "bad request".
enum RequestDecoding {
    /// The whole body, read without replacing `request.body`: handlers that watch for the client leaving
    /// (`consumeWithCancellationOnInboundClose`) need the original, channel-backed body afterwards.
    static func body(_ request: Request, limit: Int) async throws -> Data {
        let buffer = try await request.body.collect(upTo: limit)
        return Data(buffer.readableBytesView)
    }

    /// The body of a watched request: every part is read even past the limit (and dropped), then 413.
    static func readToEnd(_ body: RequestBody, limit: Int) async throws -> Data {
        var data = Data()
        var total = 0
        for try await buffer in body {
            total += buffer.readableBytes
            if total <= limit { data.append(contentsOf: buffer.readableBytesView) }
        }
        guard total <= limit else { throw APIError.tooLarge(limit) }
        return data
    }

    static func utf8Text(_ data: Data, what: String) throws -> String {
        guard let text = String(data: data, encoding: .utf8) else {
            throw APIError.invalid("\(what) is not valid UTF-8")
        }
        return text
    }

    static func json<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        guard !data.isEmpty else { throw APIError.invalid("the request body is empty; send a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw APIError.invalid(describe(error))
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let parts = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return parts.isEmpty ? "the body" : "field '\(parts.joined(separator: ".").replacingOccurrences(of: ".[", with: "["))'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "missing field '\(key.stringValue)'\(parent)"
        case .typeMismatch(let type, let context):
            return "\(path(context)) has the wrong type: expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context)) must not be null (expected \(typeName(type)))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "malformed JSON: \(context.debugDescription)" }
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "malformed request: \(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type: return "an integer"
        case is Bool.Type: return "a boolean"
        case is Double.Type: return "a number"
        case is [Any].Type: return "an array"
        default:
            let name = "\(type)"
            return name.hasPrefix("Dictionary") ? "an object" : name.hasPrefix("Array") ? "an array" : name
        }
    }
}

extension Response {
    /// A JSON response from any `Encodable`.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws
        -> Response
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
