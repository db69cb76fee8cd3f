import Foundation
import Hummingbird

/// The hand-written OpenAPI 3 description of the API (`Resources/openapi.json`), served as is.
enum OpenAPIDocument {
    static let data: Data? = Bundle.module.url(forResource: "openapi", withExtension: "json")
        .flatMap { try? Data(contentsOf: $0) }

    static func response() throws -> Response {
        guard let data else {
            throw APIError(.internalServerError, "internal", "openapi.json is missing from the server's resources")
        }
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
