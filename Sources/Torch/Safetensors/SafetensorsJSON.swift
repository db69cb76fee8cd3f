/// A small, strict JSON reader and string quoter for safetensors headers and checkpoint indexes.
///
/// Foundation's `JSONSerialization` is too lenient to validate untrusted headers with: it hands `true` and `1.0` back
/// as numbers that convert to the integer 1, keeps the last of duplicate keys without a word, and reports every syntax
/// error as "not in the correct format" with no position. This parser keeps integers apart from other numbers and from
/// booleans, rejects duplicate keys, bounds nesting depth (headers come from files, and deep nesting must not overflow
/// the stack) and says at which byte it gave up.
enum SafetensorsJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in `Int` (offsets can exceed `Int32`).
    case integer(Int)
    /// Any other number, kept as written: validation only ever needs to reject these, never to compute with them.
    case number(String)
    case string(String)
    case array([SafetensorsJSON])
    case object([String: SafetensorsJSON])

    /// The value's kind as a phrase for error messages ("an integer", "a string (\"F32\")").
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case let .bool(value): return "a boolean (\(value))"
        case let .integer(value): return "an integer (\(value))"
        case let .number(text): return "a non-integer number (\(text))"
        case let .string(text):
            // Enough of the string to recognise it; a value from a corrupt file may be megabytes long.
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return "a string (\(SafetensorsJSON.quoted(shown)))"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// `text` as a JSON string literal. Non-ASCII characters stay as UTF-8, as serde_json (which Python's safetensors
    /// uses) writes them; only quotes, backslashes and control characters are escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Why and where parsing stopped.
struct SafetensorsJSONError: Error, Equatable {
    /// Byte offset into the parsed text, or nil where no single position is to blame.
    let offset: Int?
    let message: String

    var description: String { offset.map { "\(message) at byte \($0)" } ?? message }
}

struct SafetensorsJSONParser {
    /// Deeper nesting than any safetensors header or index needs (they nest three levels at most).
    static let maxDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private var depth = 0

    private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Parses one JSON value filling all of `bytes` except surrounding whitespace.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> SafetensorsJSON {
        // Validate UTF-8 once up front: outside string literals JSON is ASCII, so every string body is then valid
        // UTF-8 too and can be decoded without further checks.
        let invalidUTF8 = transcode(bytes.makeIterator(), from: UTF8.self, to: UTF32.self,
                                    stoppingOnError: true, into: { _ in })
        if invalidUTF8 { throw SafetensorsJSONError(offset: nil, message: "not valid UTF-8") }
        var parser = SafetensorsJSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.position != bytes.count { throw parser.error("unexpected content after the JSON value") }
        return value
    }

    private func error(_ message: String) -> SafetensorsJSONError {
        let atEnd = position >= bytes.count
        return SafetensorsJSONError(offset: position, message: atEnd ? "unexpected end of input, \(message)" : message)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    private mutating func expect(_ literal: String, _ value: SafetensorsJSON) throws -> SafetensorsJSON {
        for expected in literal.utf8 {
            guard current == expected else { throw error("invalid literal, expected '\(literal)'") }
            position += 1
        }
        return value
    }

    private mutating func parseValue() throws -> SafetensorsJSON {
        guard let byte = current else { throw error("expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try nested { try $0.parseObject() }
        case UInt8(ascii: "["): return try nested { try $0.parseArray() }
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        case 0x21...0x7E: throw error("unexpected character '\(Unicode.Scalar(byte))'")
        default: throw error("unexpected byte 0x\(String(byte, radix: 16))")
        }
    }

    private mutating func nested(_ body: (inout SafetensorsJSONParser) throws -> SafetensorsJSON) throws
        -> SafetensorsJSON
    {
        let limit = SafetensorsJSONParser.maxDepth
        guard depth < limit else { throw error("nesting deeper than \(limit) levels") }
        depth += 1
        defer { depth -= 1 }
        return try body(&self)
    }

    private mutating func parseObject() throws -> SafetensorsJSON {
        position += 1  // "{"
        var members: [String: SafetensorsJSON] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyStart = position
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            position += 1
            skipWhitespace()
            let value = try parseValue()
            guard members.updateValue(value, forKey: key) == nil else {
                throw SafetensorsJSONError(offset: keyStart, message: "duplicate key \(SafetensorsJSON.quoted(key))")
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            default: throw error("expected ',' or '}' in object")
            }
        }
    }

    private mutating func parseArray() throws -> SafetensorsJSON {
        position += 1  // "["
        var elements: [SafetensorsJSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            default: throw error("expected ',' or ']' in array")
            }
        }
    }

    private mutating func parseString() throws -> String {
        position += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard let byte = current else { throw error("unterminated string") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &utf8)
            case ..<0x20:
                position -= 1
                throw error("unescaped control character in string")
            default:
                utf8.append(byte)
            }
        }
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws {
        guard let byte = current else { throw error("unterminated escape") }
        position += 1
        let simple: UInt8?
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): simple = byte
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"): simple = nil
        default:
            position -= 1
            throw error("invalid escape '\\\(Unicode.Scalar(byte))'")
        }
        if let simple { utf8.append(simple); return }

        var code = try parseHex4()
        if (0xD800..<0xDC00).contains(code) {
            // A high surrogate must be followed by an escaped low surrogate; together they name one scalar.
            guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u")
            else { throw error("unpaired surrogate in \\u escape") }
            position += 2
            let low = try parseHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(code) else { throw error("unpaired surrogate in \\u escape") }
        utf8.append(contentsOf: String(Character(scalar)).utf8)
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = current.flatMap({ Character(Unicode.Scalar($0)).hexDigitValue }) else {
                throw error("invalid hex digit in \\u escape")
            }
            code = code << 4 | UInt32(digit)
            position += 1
        }
        return code
    }

    private mutating func parseNumber() throws -> SafetensorsJSON {
        let start = position
        var isInteger = true
        if current == UInt8(ascii: "-") { position += 1 }
        // JSON forbids leading zeros ("01") and a bare "-".
        if current == UInt8(ascii: "0") {
            position += 1
        } else {
            guard skipDigits() > 0 else { throw error("invalid number") }
        }
        if current == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard skipDigits() > 0 else { throw error("expected digits after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard skipDigits() > 0 else { throw error("expected digits in exponent") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if isInteger, let value = Int(text) { return .integer(value) }
        return .number(text)
    }

    private mutating func skipDigits() -> Int {
        let start = position
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
        return position - start
    }
}
