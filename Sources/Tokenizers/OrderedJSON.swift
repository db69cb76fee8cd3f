import Foundation

/// A JSON value whose objects keep their key order, for writing files in the layout HF writes them (`tokenizer.json`
/// keys in serde's struct order, the vocabulary in id order). `JSONSerialization` cannot do this: Swift dictionaries
/// have no order, and `.sortedKeys` would put `"added_tokens"` before `"version"` and the vocabulary in string order.
enum OrderedJSON {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    /// `.string`, or `.null` for nil.
    static func nullable(_ s: String?) -> OrderedJSON { s.map { .string($0) } ?? .null }

    /// UTF-8 text. Compact is serde_json's `to_string` (what `tokenizers` writes: no spaces, non-ASCII as is); pretty
    /// is Python's `json.dumps(indent=2, ensure_ascii=False)` (what transformers writes for `tokenizer_config.json`).
    func serialized(pretty: Bool = false) -> Data {
        var out = [UInt8]()
        write(into: &out, indent: pretty ? 0 : nil)
        if pretty { out.append(0x0A) }
        return Data(out)
    }

    private func write(into out: inout [UInt8], indent: Int?) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .int(let i): out += Array(String(i).utf8)
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let items):
            writeContainer(open: 0x5B, close: 0x5D, count: items.count, into: &out, indent: indent) { i, out, inner in
                items[i].write(into: &out, indent: inner)
            }
        case .object(let members):
            writeContainer(open: 0x7B, close: 0x7D, count: members.count, into: &out, indent: indent) { i, out, inner in
                Self.writeString(members[i].0, into: &out)
                out += indent == nil ? [0x3A] : [0x3A, 0x20]
                members[i].1.write(into: &out, indent: inner)
            }
        }
    }

    private func writeContainer(open: UInt8, close: UInt8, count: Int, into out: inout [UInt8], indent: Int?,
                                element: (Int, inout [UInt8], Int?) -> Void) {
        out.append(open)
        defer { out.append(close) }
        guard count > 0 else { return }
        let inner = indent.map { $0 + 2 }
        for i in 0..<count {
            if i > 0 { out.append(0x2C) }
            if let inner { out.append(0x0A); out += repeatElement(0x20, count: inner) }
            element(i, &out, inner)
        }
        if let indent { out.append(0x0A); out += repeatElement(0x20, count: indent) }
    }

    /// `s` as a JSON string literal, escaped as below (for writers that assemble JSON text themselves).
    static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        writeString(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A string literal escaped as serde_json (and Python's `ensure_ascii=False`) escape: quote, backslash, and the
    /// control characters below U+0020; everything else, DEL and non-ASCII included, as its UTF-8.
    private static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        let hex = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x08: out += [0x5C, 0x62]
            case 0x09: out += [0x5C, 0x74]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0C: out += [0x5C, 0x66]
            case 0x0D: out += [0x5C, 0x72]
            case 0..<0x20: out += [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        out.append(0x22)
    }
}
