import Foundation
import Hummingbird
import MemoRAG
import NIOCore

/// A request that failed, as a status and an OpenAI-style JSON body
/// `{"error": {"message": ..., "type": ..., "code": ...}}`, so OpenAI clients show the message.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// Machine-readable kind: `invalid_request`, `not_found`, `busy`, `unauthorized`, `too_large`, …
    public var code: String
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    static func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid_request", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "too_large", "the request body is over the server's limit of \(limit) bytes")
    }
    static func conflict(_ message: String) -> APIError { APIError(.conflict, "conflict", message) }

    struct Body: Codable {
        struct Detail: Codable {
            var message: String
            var type: String
            var code: String
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let type = status.code >= 500 ? "server_error" : "invalid_request_error"
        let data = try JSONEncoder().encode(Body(error: .init(message: message, type: type, code: code)))
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The client-facing form of any error a handler throws: our own pass through, Hummingbird's HTTP errors keep
    /// their status, pipeline errors become 4xx where the request was at fault, anything else a 500 that names it.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError: return error
        case let error as HTTPError:
            let code = error.status == .contentTooLarge ? "too_large" : "http_error"
            let message = error.body ?? error.status.reasonPhrase
            return APIError(error.status, code, message, headers: error.headers)
        case let error as MemoRAGError:
            switch error {
            case .invalidArgument(let message), .tooLong(let message): return .invalid(message)
            case .noMemory: return .invalid(error.localizedDescription)
            case .generator(let message): return APIError(.badGateway, "generator_failed", message)
            case .unreadable, .corrupt, .incompatibleCache:
                return APIError(.internalServerError, "storage", error.localizedDescription)
            }
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, "too_large", "the request body is over the server's limit")  // no size at hand
        case is CancellationError:
            // 499 (nginx's "client closed request"): only logs ever see it, the client is gone.
            return APIError(.init(code: 499, reasonPhrase: "Client Closed Request"), "cancelled", "the request was cancelled")
        default:
            return APIError(.internalServerError, "internal", "\(error.localizedDescription)")
        }
    }
}

/// Turns every error thrown below it into a JSON error body, so no route answers with a bare status or HTML.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            return try APIError.from(error).response(from: request, context: context)
        }
    }
}
