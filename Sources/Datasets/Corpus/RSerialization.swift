import Foundation

/// A value of R's serialisation format (XDR, versions 2 and 3), as far as data packages need: vectors, lists,
/// pairlists (attributes), symbols, NULL, environments (kept opaque) and the common ALTREP compact forms.
public indirect enum RValue: Equatable, Sendable {
    case null
    case logical([Int32?], attributes: [RAttribute])
    case integer([Int32?], attributes: [RAttribute])
    case real([Double], attributes: [RAttribute])
    case complex([Double], attributes: [RAttribute])
    /// A character vector; nil is NA.
    case string([String?], attributes: [RAttribute])
    case list([RValue], attributes: [RAttribute])
    case raw([UInt8], attributes: [RAttribute])
    case symbol(String)
    /// A pairlist (or language object) as tagged entries.
    case pairlist([RAttribute])
    /// An environment, closure, or other object we do not interpret (its R type number).
    case opaque(type: Int)

    public var attributes: [RAttribute] {
        switch self {
        case .logical(_, let a), .integer(_, let a), .real(_, let a), .complex(_, let a), .string(_, let a),
             .list(_, let a), .raw(_, let a): return a
        case .pairlist(let entries): return entries
        default: return []
        }
    }

    public func attribute(_ name: String) -> RValue? { attributes.first { $0.name == name }?.value }

    /// `names(x)` when it is a character vector.
    public var names: [String?]? {
        if case .string(let n, _)? = attribute("names") { return n }
        return nil
    }
}

/// A tagged entry of a pairlist (attributes are pairlists).
public struct RAttribute: Equatable, Sendable {
    public var name: String?
    public var value: RValue

    public init(name: String?, value: RValue) {
        self.name = name
        self.value = value
    }
}

/// Reads R's serialisation format (`serialize()` / `saveRDS()` / lazy-load databases), XDR (big-endian) only.
/// Errors name `source` and the byte offset.
public struct RUnserializer {
    private let bytes: [UInt8]
    private var position = 0
    private let source: String
    /// Objects a REFSXP can point back to (symbols and environments), in the order they were read.
    private var references: [RValue] = []

    public static func unserialize(_ data: Data, source: String) throws -> RValue {
        var reader = RUnserializer(bytes: [UInt8](data), source: source)
        return try reader.readStream()
    }

    private init(bytes: [UInt8], source: String) {
        self.bytes = bytes
        self.source = source
    }

    private func fail(_ reason: String) -> DataError {
        .corpus(source: source, reason: "R serialisation at byte \(position): \(reason)")
    }

    private mutating func readStream() throws -> RValue {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "X"), bytes[1] == UInt8(ascii: "\n") else {
            throw fail("not an XDR stream (expected \"X\\n\"; ASCII and native-binary formats are not supported)")
        }
        position = 2
        let version = try int()
        _ = try int()  // R version that wrote it
        _ = try int()  // minimal R version to read it
        switch version {
        case 2: break
        case 3:
            let n = try int()
            guard n >= 0 else { throw fail("bad native-encoding length") }
            _ = try take(Int(n))  // native encoding name, e.g. "UTF-8"
        default: throw fail("unsupported serialisation version \(version)")
        }
        return try item()
    }

    // MARK: primitives

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, position + n <= bytes.count else { throw fail("data ends early (wanted \(n) more bytes)") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    private mutating func int() throws -> Int32 {
        let b = try take(4)
        let i = b.startIndex
        return Int32(bitPattern: UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
    }

    private mutating func double() throws -> Double {
        let b = try take(8)
        var v: UInt64 = 0
        for x in b { v = v << 8 | UInt64(x) }
        return Double(bitPattern: v)
    }

    private mutating func length() throws -> Int {
        let n = try int()
        if n >= 0 { return Int(n) }
        guard n == -1 else { throw fail("negative length \(n)") }
        let upper = try int(), lower = try int()  // long vector
        return Int(UInt64(UInt32(bitPattern: upper)) << 32 | UInt64(UInt32(bitPattern: lower)))
    }

    private static let naInteger = Int32.min

    // MARK: items

    private mutating func item() throws -> RValue {
        let flags = try int()
        let type = Int(flags & 0xff)
        let levels = Int(flags >> 12)
        let hasAttributes = flags & (1 << 9) != 0
        let hasTag = flags & (1 << 10) != 0

        switch type {
        case 254, 253, 252, 251, 250, 242, 241:  // NULL, global/unbound/missing/base-namespace/empty/base env
            return type == 254 ? .null : .opaque(type: type)
        case 255:  // REFSXP
            var index = Int(flags >> 8)
            if index == 0 { index = Int(try int()) }
            guard index >= 1, index <= references.count else { throw fail("reference \(index) to nothing") }
            return references[index - 1]
        case 1:  // SYMSXP
            let name = try item()
            guard case .string(let s, _) = name, let text = s.first ?? nil else { throw fail("symbol without a name") }
            let symbol = RValue.symbol(text)
            references.append(symbol)
            return symbol
        case 9:  // CHARSXP outside a character vector
            return .string([try charsxp(levels: levels)], attributes: [])
        case 2, 6, 17, 239, 240:  // LISTSXP, LANGSXP, DOTSXP, ATTRLISTSXP, ATTRLANGSXP
            return try pairlist(firstFlags: flags)
        case 4:  // ENVSXP
            let slot = references.count
            references.append(.opaque(type: 4))
            _ = try int()  // locked
            _ = try item(); _ = try item(); _ = try item(); _ = try item()  // enclos, frame, hashtab, attributes
            references[slot] = .opaque(type: 4)
            return .opaque(type: 4)
        case 3, 5:  // CLOSXP, PROMSXP: pairlist-shaped
            return try pairlist(firstFlags: flags)
        case 10, 13:  // LGLSXP, INTSXP
            let n = try length()
            var values = [Int32?]()
            values.reserveCapacity(n)
            for _ in 0..<n {
                let v = try int()
                values.append(v == Self.naInteger ? nil : v)
            }
            let attributes = hasAttributes ? try attributeList() : []
            return type == 10 ? .logical(values, attributes: attributes) : .integer(values, attributes: attributes)
        case 14, 15:  // REALSXP, CPLXSXP
            let n = try length() * (type == 15 ? 2 : 1)
            var values = [Double]()
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try double()) }
            let attributes = hasAttributes ? try attributeList() : []
            return type == 14 ? .real(values, attributes: attributes) : .complex(values, attributes: attributes)
        case 16:  // STRSXP
            let n = try length()
            var values = [String?]()
            values.reserveCapacity(n)
            for _ in 0..<n {
                let f = try int()
                guard f & 0xff == 9 else { throw fail("character vector element of type \(f & 0xff)") }
                values.append(try charsxp(levels: Int(f >> 12)))
            }
            return .string(values, attributes: hasAttributes ? try attributeList() : [])
        case 19, 20:  // VECSXP, EXPRSXP
            let n = try length()
            var values = [RValue]()
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try item()) }
            return .list(values, attributes: hasAttributes ? try attributeList() : [])
        case 24:  // RAWSXP
            let n = try length()
            let raw = Array(try take(n))
            return .raw(raw, attributes: hasAttributes ? try attributeList() : [])
        case 25:  // S4SXP: only attributes
            return .list([], attributes: hasAttributes ? try attributeList() : [])
        case 238:  // ALTREP_SXP
            return try altrep()
        default:
            _ = hasTag
            throw fail("unsupported R object type \(type)")
        }
    }

    /// A CHARSXP body: length (−1 = NA) and bytes; latin-1 strings are converted, the rest read as UTF-8.
    private mutating func charsxp(levels: Int) throws -> String? {
        let n = try int()
        if n == -1 { return nil }
        let raw = try take(Int(n))
        if levels & (1 << 2) != 0 {  // LATIN1_MASK
            return String(raw.map { Character(Unicode.Scalar($0)) })
        }
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw fail("string is not valid UTF-8")
        }
        return s
    }

    /// A pairlist read iteratively along its CDR chain (each cell: [attributes] [tag] CAR, then CDR).
    private mutating func pairlist(firstFlags: Int32) throws -> RValue {
        var entries: [RAttribute] = []
        var flags = firstFlags
        while true {
            let type = Int(flags & 0xff)
            let hasAttributes = flags & (1 << 9) != 0
            let hasTag = flags & (1 << 10) != 0
            if hasAttributes { _ = try item() }
            var tag: String?
            if hasTag {
                switch try item() {
                case .symbol(let s): tag = s
                case .string(let s, _): tag = s.first ?? nil
                default: tag = nil
                }
            }
            let value = try item()
            entries.append(RAttribute(name: tag, value: value))
            guard [2, 6, 17, 239, 240, 3, 5].contains(type) else { break }
            // The CDR: another cell, or the end (NULL), or any other object (an improper list's tail).
            let next = try int()
            if next & 0xff == 254 { break }
            if [2, 6, 17, 239, 240].contains(Int(next & 0xff)) {
                flags = next
                continue
            }
            position -= 4
            entries.append(RAttribute(name: nil, value: try item()))
            break
        }
        return .pairlist(entries)
    }

    private mutating func attributeList() throws -> [RAttribute] {
        guard case .pairlist(let entries) = try item() else { throw fail("attributes are not a pairlist") }
        return entries
    }

    /// ALTREP objects: the class is named by the first item; compact sequences and wrappers are expanded.
    private mutating func altrep() throws -> RValue {
        let info = try item()
        let state = try item()
        let attributes: [RAttribute]
        if case .pairlist(let a) = try item() { attributes = a } else { attributes = [] }
        guard case .pairlist(let infoEntries) = info, case .symbol(let className)? = infoEntries.first?.value else {
            throw fail("ALTREP object without a class")
        }
        switch className {
        case "compact_intseq", "compact_realseq":
            guard case .real(let v, _) = state, v.count == 3 else { throw fail("bad \(className) state") }
            let (n, start, step) = (Int(v[0]), v[1], v[2])
            let values = (0..<n).map { start + Double($0) * step }
            return className == "compact_intseq"
                ? .integer(values.map { Int32($0) }, attributes: attributes) : .real(values, attributes: attributes)
        case let name where name.hasPrefix("wrap_"):
            guard case .pairlist(let entries) = state, let wrapped = entries.first?.value else {
                throw fail("bad \(className) state")
            }
            return Self.replacingAttributes(wrapped, with: attributes)
        case "deferred_string":
            guard case .pairlist(let entries) = state, let argument = entries.first?.value else {
                throw fail("bad deferred_string state")
            }
            switch argument {
            case .integer(let v, _): return .string(v.map { $0.map { String($0) } }, attributes: attributes)
            case .real(let v, _): return .string(v.map { String($0) }, attributes: attributes)
            default: throw fail("deferred_string over an unsupported vector")
            }
        default:
            throw fail("unsupported ALTREP class \(className)")
        }
    }

    private static func replacingAttributes(_ value: RValue, with attributes: [RAttribute]) -> RValue {
        guard !attributes.isEmpty else { return value }
        switch value {
        case .logical(let v, _): return .logical(v, attributes: attributes)
        case .integer(let v, _): return .integer(v, attributes: attributes)
        case .real(let v, _): return .real(v, attributes: attributes)
        case .complex(let v, _): return .complex(v, attributes: attributes)
        case .string(let v, _): return .string(v, attributes: attributes)
        case .list(let v, _): return .list(v, attributes: attributes)
        case .raw(let v, _): return .raw(v, attributes: attributes)
        default: return value
        }
    }
}
