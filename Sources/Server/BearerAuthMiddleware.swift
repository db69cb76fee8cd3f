import Foundation
import Hummingbird

/// Requires `Authorization: Bearer KEY` on every path except the open ones (health checks, the API description).
/// The comparison takes the same time wherever the first difference is, so timing does not leak the key.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]
    let openPaths: Set<String>

    init(key: String, openPaths: Set<String> = ["/health", "/openapi.json"]) {
        self.key = Array(key.utf8)
        self.openPaths = openPaths
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix(prefix.lowercased()),
              Self.constantTimeEqual(Array(header.utf8.dropFirst(prefix.utf8.count)), key)
        else {
            throw APIError(.unauthorized, "unauthorized", "missing or wrong API key (send Authorization: Bearer KEY)",
                           headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }

    /// Equal bytes, compared over the full length of both so the time depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}
