// Value types of GGUF (llama.cpp's model file format): metadata values, tensor element types, tensor infos.
// Pure Swift, Foundation only.
import Foundation

/// The type tag of a GGUF metadata value (`gguf_type` in ggml/include/gguf.h), stored as a little-endian u32.
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8
    case array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The smallest number of bytes one value of this type takes in a file (used to reject absurd array counts).
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string: return 8          // u64 length, possibly empty
        case .array: return 12          // u32 element type + u64 count
        }
    }

    public var description: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .float32: return "FLOAT32"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .array: return "ARRAY"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float64: return "FLOAT64"
        }
    }
}

/// One GGUF metadata value. Arrays carry their element type (arrays of arrays are allowed; every inner array has
/// its own element type).
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// Any integer type as `Int` (nil for other types, and for a UInt64 above `Int.max`).
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// FLOAT32 / FLOAT64 (and, exactly converted, any integer type) as `Double`.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        case .uint64(let v): return Double(v)
        case .int64(let v): return Double(v)
        default: return intValue.map(Double.init)
        }
    }

    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The elements of an array value.
    public var arrayValue: [GGUFValue]? {
        if case .array(_, let v) = self { return v }
        return nil
    }

    /// The element type of an array value.
    public var arrayElementType: GGUFValueType? {
        if case .array(let t, _) = self { return t }
        return nil
    }

    /// A short description of the value's type, e.g. `UINT32` or `ARRAY[STRING]`.
    public var typeDescription: String {
        if case .array(let t, _) = self { return "ARRAY[\(t)]" }
        return type.description
    }
}

/// A ggml tensor element type (`ggml_type`). Every type llama.cpp currently defines is known (so such files can be
/// opened and listed); `isDequantizable` tells which ones this reader turns into Float32.
public enum GGUFTensorType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// Elements per block (1 for the plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: return 32
        case .nvfp4: return 64
        case .q1_0: return 128
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S, .iq3_S, .iq2_S,
             .iq4_XS, .iq1_M, .tq1_0, .tq2_0: return 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        let qk = 256
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 2 + 16
        case .q4_1: return 2 + 2 + 16
        case .q5_0: return 2 + 4 + 16
        case .q5_1: return 2 + 2 + 4 + 16
        case .q8_0: return 2 + 32
        case .q8_1: return 4 + 4 + 32
        case .q2_K: return 2 + 2 + qk / 16 + qk / 4
        case .q3_K: return 2 + qk / 4 + qk / 8 + 12
        case .q4_K: return 2 + 2 + qk / 2 + 12
        case .q5_K: return 2 + 2 + qk / 2 + qk / 8 + 12
        case .q6_K: return 2 + qk / 2 + qk / 4 + qk / 16
        case .q8_K: return 4 + qk + qk / 8
        case .iq2_XXS: return 2 + qk / 4
        case .iq2_XS: return 2 + qk / 4 + qk / 32
        case .iq3_XXS: return 2 + qk / 4 + qk / 8
        case .iq1_S: return 2 + qk / 8 + qk / 16
        case .iq4_NL: return 2 + 16
        case .iq3_S: return 2 + qk / 4 + qk / 8 + qk / 32 + 4
        case .iq2_S: return 2 + qk / 4 + qk / 16
        case .iq4_XS: return 2 + 2 + qk / 2 + qk / 64
        case .iq1_M: return qk / 8 + qk / 16 + qk / 32
        case .tq1_0: return 2 + 4 * 13
        case .tq2_0: return 2 + 64
        case .mxfp4: return 1 + 16
        case .nvfp4: return 4 + 32
        case .q1_0: return 2 + 16
        }
    }

    /// Whether `GGUFFile.dequantize` supports this type.
    public var isDequantizable: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1: return true
        default: return false
        }
    }

    /// The name llama.cpp / gguf-py use (`Q4_1`, `BF16`, ...).
    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        case .iq2_XXS: return "IQ2_XXS"
        case .iq2_XS: return "IQ2_XS"
        case .iq3_XXS: return "IQ3_XXS"
        case .iq1_S: return "IQ1_S"
        case .iq4_NL: return "IQ4_NL"
        case .iq3_S: return "IQ3_S"
        case .iq2_S: return "IQ2_S"
        case .iq4_XS: return "IQ4_XS"
        case .iq1_M: return "IQ1_M"
        case .tq1_0: return "TQ1_0"
        case .tq2_0: return "TQ2_0"
        case .mxfp4: return "MXFP4"
        case .nvfp4: return "NVFP4"
        case .q1_0: return "Q1_0"
        }
    }
}

/// One entry of a GGUF file's tensor table.
public struct GGUFTensorInfo: Sendable, Hashable {
    /// The GGUF tensor name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// Dimensions in GGUF order: `dims[0]` (ggml's ne[0]) is the fastest-varying one. PyTorch order is `shape`.
    public let dims: [Int]
    public let type: GGUFTensorType
    /// Offset of the tensor's data relative to the start of the data section (as stored in the file).
    public let offset: Int
    /// Absolute offset of the tensor's data in the file.
    public let fileOffset: Int
    /// Bytes of tensor data.
    public let byteCount: Int

    public init(name: String, dims: [Int], type: GGUFTensorType, offset: Int, fileOffset: Int, byteCount: Int) {
        self.name = name
        self.dims = dims
        self.type = type
        self.offset = offset
        self.fileOffset = fileOffset
        self.byteCount = byteCount
    }

    /// The shape in PyTorch (row-major) order: `dims` reversed.
    public var shape: [Int] { dims.reversed() }

    /// Number of elements (1 for a 0-dimensional tensor).
    public var elementCount: Int { dims.reduce(1, *) }

    /// Elements per row (`dims[0]`, or 1 for a 0-dimensional tensor).
    public var rowLength: Int { dims.first ?? 1 }

    /// Number of rows: elements / row length.
    public var rowCount: Int { dims.dropFirst().reduce(1, *) }
}

/// Tokenizer facts stored under `tokenizer.ggml.*` / `tokenizer.chat_template`.
public struct GGUFTokenizerMetadata: Sendable, Equatable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece), "bert", ...
    public var model: String?
    /// `tokenizer.ggml.pre`: the pre-tokenizer flavour, e.g. "smollm", "qwen2", "llama-bpe".
    public var pre: String?
    public var tokens: [String]
    /// BPE merges as "left right" strings.
    public var merges: [String]
    /// llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
    public var tokenTypes: [Int]
    public var scores: [Float]
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var padTokenID: Int?
    public var unknownTokenID: Int?
    public var addBOS: Bool?
    public var addEOS: Bool?
    public var chatTemplate: String?

    public init(model: String? = nil, pre: String? = nil, tokens: [String] = [], merges: [String] = [],
                tokenTypes: [Int] = [], scores: [Float] = [], bosTokenID: Int? = nil, eosTokenID: Int? = nil,
                padTokenID: Int? = nil, unknownTokenID: Int? = nil, addBOS: Bool? = nil, addEOS: Bool? = nil,
                chatTemplate: String? = nil) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.merges = merges
        self.tokenTypes = tokenTypes
        self.scores = scores
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.padTokenID = padTokenID
        self.unknownTokenID = unknownTokenID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.chatTemplate = chatTemplate
    }
}
