// Tests of the pure-Swift GGUF reader against fixtures written by gguf-py (Fixtures/gguf/make_gguf_fixtures.py),
// the real SmolLM2-135M-Instruct Q4_1 file (scripts/fetch-models.sh), and corrupted copies of the fixtures.
import Foundation
import TestSupport
import XCTest
@testable import Models

final class GGUFTests: XCTestCase {

    // MARK: helpers

    static let fixtures: URL = {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("the ModelsTests bundle has no Fixtures folder")
        }
        return url.appendingPathComponent("gguf")
    }()

    static func fixture(_ name: String) -> URL { fixtures.appendingPathComponent(name) }

    nonisolated(unsafe) static let expected: [String: Any] = {
        let data = try! Data(contentsOf: fixture("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    /// The SmolLM2 file installed by scripts/fetch-models.sh ($MEMORAG_CACHE, default ~/.cache/memorag).
    static var smolLM2URL: URL { InstalledModels.smolLM2 }

    /// Opens the SmolLM2 file, or fails with instructions when it is missing.
    func openSmolLM2(file: StaticString = #filePath, line: UInt = #line) throws -> GGUFFile? {
        let url = Self.smolLM2URL
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("\(url.path) is missing: run scripts/fetch-models.sh to install the SmolLM2-135M-Instruct "
                    + "GGUF (set MEMORAG_CACHE if it lives elsewhere)", file: file, line: line)
            return nil
        }
        return try GGUFFile(url: url)
    }

    /// sum_i bits(v_i) * (i + 1) mod 2^64 as 16 hex digits (same definition as the fixture script).
    static func checksum(_ values: [Float]) -> String {
        var acc: UInt64 = 0
        values.withUnsafeBufferPointer { v in
            for i in 0..<v.count { acc = acc &+ UInt64(v[i].bitPattern) &* UInt64(i + 1) }
        }
        let hex = String(acc, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    static func uint32s(_ any: Any?) -> [UInt32] { (any as! [NSNumber]).map { $0.uint32Value } }

    static func ints(_ any: Any?) -> [Int] { (any as! [NSNumber]).map { $0.intValue } }

    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Writes a modified copy of fixture `name` to the scratch folder and returns its URL.
    func corrupt(_ name: String, as newName: String, _ edit: (inout [UInt8]) -> Void) throws -> URL {
        var bytes = [UInt8](try Data(contentsOf: Self.fixture(name)))
        edit(&bytes)
        let url = scratch.appendingPathComponent(newName)
        try Data(bytes).write(to: url)
        return url
    }

    static func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (i, b) in raw.enumerated() { bytes[offset + i] = b }
        }
    }

    /// Offset of the first occurrence of the GGUF string `s` (u64 length + bytes); returns the offset just past it.
    static func endOfString(_ s: String, in bytes: [UInt8]) -> Int {
        var needle = [UInt8]()
        withUnsafeBytes(of: UInt64(s.utf8.count).littleEndian) { needle += $0 }
        needle += Array(s.utf8)
        for i in 0...(bytes.count - needle.count) where bytes[i..<(i + needle.count)].elementsEqual(needle) {
            return i + needle.count
        }
        fatalError("\(s) not found")
    }

    /// Asserts that opening `url` throws a GGUFError accepted by `check`, whose message names the file.
    func assertOpenFails(_ url: URL, mentioning words: [String] = [], file: StaticString = #filePath,
                         line: UInt = #line, _ check: (GGUFError) -> Bool) {
        do {
            _ = try GGUFFile(url: url)
            XCTFail("\(url.lastPathComponent) opened without error", file: file, line: line)
        } catch let error as GGUFError {
            XCTAssertTrue(check(error), "unexpected error \(error)", file: file, line: line)
            let message = error.localizedDescription
            XCTAssertTrue(message.contains(url.lastPathComponent), "message lacks the file name: \(message)",
                          file: file, line: line)
            XCTAssertEqual(error.path, url.path, file: file, line: line)
            for w in words {
                XCTAssertTrue(message.contains(w), "message lacks '\(w)': \(message)", file: file, line: line)
            }
        } catch {
            XCTFail("not a GGUFError: \(error)", file: file, line: line)
        }
    }

    // MARK: tensor types

    func testTypesFileHeaderAndTensorTable() throws {
        let exp = Self.expected["types"] as! [String: Any]
        let f = try GGUFFile(url: Self.fixture("types.gguf"))
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.int("general.alignment"), 64)
        XCTAssertEqual(f.dataOffset, (exp["data_offset"] as! NSNumber).intValue)
        XCTAssertEqual(f.dataOffset % 64, 0)
        let tensors = exp["tensors"] as! [[String: Any]]
        XCTAssertEqual(f.tensors.map(\.name), tensors.map { $0["name"] as! String })
        for (info, t) in zip(f.tensors, tensors) {
            XCTAssertEqual(info.type.description, t["type"] as! String, info.name)
            XCTAssertEqual(info.dims, Self.ints(t["dims"]), info.name)
            XCTAssertEqual(info.shape, Self.ints(t["shape"]), info.name)
            XCTAssertEqual(info.offset, (t["offset"] as! NSNumber).intValue, info.name)
            XCTAssertEqual(info.fileOffset, (t["data_offset"] as! NSNumber).intValue, info.name)
            XCTAssertEqual(info.byteCount, (t["n_bytes"] as! NSNumber).intValue, info.name)
            XCTAssertEqual(info.offset % 64, 0)
        }
        XCTAssertEqual(Set(f.tensors.map(\.type)), [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1])
    }

    func testDequantizeEveryTypeBitIdenticalToGGUFPy() throws {
        let exp = Self.expected["types"] as! [String: Any]
        let f = try GGUFFile(url: Self.fixture("types.gguf"))
        for t in exp["tensors"] as! [[String: Any]] {
            let name = t["name"] as! String
            let info = try XCTUnwrap(f.tensor(named: name))
            let want = Self.uint32s(t["bits"])
            let got = try f.dequantize(info)
            XCTAssertEqual(Self.bits(got), want, "\(name) (\(info.type))")
            XCTAssertEqual(Self.checksum(got), t["checksum"] as! String, name)
            // the buffer API, and by name
            var buffer = [Float](repeating: 42, count: info.elementCount)
            try buffer.withUnsafeMutableBufferPointer { try f.dequantize(info, into: $0) }
            XCTAssertEqual(Self.bits(buffer), want, name)
            XCTAssertEqual(Self.bits(try f.dequantize(name)), want, name)
        }
    }

    func testRawBytesOfHalfTypesAreUnchanged() throws {
        let f = try GGUFFile(url: Self.fixture("types.gguf"))
        for name in ["t.f16", "t.bf16"] {
            let info = try XCTUnwrap(f.tensor(named: name))
            let raw = f.rawData(info)
            XCTAssertEqual(raw.count, info.elementCount * 2)
            let halves: [UInt16] = raw.withUnsafeBytes { b in
                (0..<info.elementCount).map { UInt16(littleEndian: b.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
            }
            let values = try f.dequantize(info)
            if info.type == .bf16 {
                XCTAssertEqual(halves.map { UInt32($0) << 16 }, Self.bits(values))
            } else {
                XCTAssertEqual(halves.prefix(4), [0x7C00, 0xFC00, 0x8000, 0x7E00])    // inf, -inf, -0, NaN
                XCTAssertEqual(Self.bits(halves.map(ggufHalfToFloat)), Self.bits(values))
            }
            f.withRawBytes(of: info) { XCTAssertEqual(Data($0), raw) }
        }
    }

    func testHalfConversionExhaustive() {
        // every finite half value against Foundation's own conversion through Double arithmetic
        for h in 0..<65536 {
            let bits = UInt16(h)
            let exponent = Int(bits >> 10) & 0x1F, mantissa = Int(bits & 0x3FF)
            let v = ggufHalfToFloat(bits)
            if exponent == 31 {
                XCTAssertTrue(mantissa == 0 ? v.isInfinite : v.isNaN, "\(h)")
                continue
            }
            let magnitude = exponent == 0 ? Double(mantissa) * 0x1p-24
                : (1 + Double(mantissa) / 1024) * pow(2, Double(exponent - 15))
            XCTAssertEqual(Double(v), bits & 0x8000 != 0 ? -magnitude : magnitude, "\(h)")
            XCTAssertEqual(v.sign == .minus, bits & 0x8000 != 0)
            XCTAssertEqual(ggufHalfTable[h].bitPattern, v.bitPattern)
        }
    }

    func testDequantizeRejectsUnsupportedTypeAndWrongBuffer() throws {
        // Q8_0 (8 blocks of 34 bytes) relabelled Q5_0 (22 bytes a block): still inside its data, but not supported
        let q8 = (Self.expected["types"] as! [String: Any])["tensors"] as! [[String: Any]]
        let entry = q8.first { $0["name"] as! String == "t.q8_0" }!
        let url = try corrupt("types.gguf", as: "q5_0.gguf") {
            Self.put(UInt32(GGUFTensorType.q5_0.rawValue), at: (entry["type_field"] as! NSNumber).intValue, in: &$0)
        }
        let f = try GGUFFile(url: url)
        let info = try XCTUnwrap(f.tensor(named: "t.q8_0"))
        XCTAssertEqual(info.type, .q5_0)
        XCTAssertThrowsError(try f.dequantize(info)) { error in
            XCTAssertEqual(error as? GGUFError, .unsupportedTensorType(path: url.path, tensor: "t.q8_0", type: .q5_0))
            XCTAssertTrue(error.localizedDescription.contains("q5_0.gguf"))
            XCTAssertTrue(error.localizedDescription.contains("t.q8_0"))
            XCTAssertTrue(error.localizedDescription.contains("Q5_0"))
        }
        let ok = try XCTUnwrap(f.tensor(named: "t.q4_0"))
        var small = [Float](repeating: 0, count: ok.elementCount - 1)
        XCTAssertThrowsError(try small.withUnsafeMutableBufferPointer { try f.dequantize(ok, into: $0) }) {
            XCTAssertEqual($0 as? GGUFError, .bufferSizeMismatch(path: url.path, tensor: "t.q4_0",
                                                                 expected: ok.elementCount, actual: ok.elementCount - 1))
        }
        XCTAssertThrowsError(try f.dequantize("nope")) {
            XCTAssertEqual($0 as? GGUFError, .tensorNotFound(path: url.path, tensor: "nope"))
        }
    }

    func testMultithreadedDequantizationMatchesSingleThreaded() throws {
        // A tensor above the threading threshold: compare the threaded result with block-by-block results
        let f = try GGUFFile(url: Self.fixture("types.gguf"))
        let info = try XCTUnwrap(f.tensor(named: "t.q4_1"))
        XCTAssertLessThan(info.elementCount, GGUFFile.elementsPerThread)   // fixtures run single-threaded...
        guard let smol = try openSmolLM2() else { return }                // ...the real model's big tensors do not
        let embd = try XCTUnwrap(smol.tensor(named: "blk.0.ffn_down.weight"))
        XCTAssertGreaterThan(embd.elementCount, 2 * GGUFFile.elementsPerThread)
        let all = try smol.dequantize(embd)
        // one row at a time through the slice path (single-threaded per row, identity placement)
        var rows = [Float](repeating: .nan, count: embd.elementCount)
        try rows.withUnsafeMutableBufferPointer {
            try smol.dequantizeSlices(embd, slices: embd.rowCount, into: $0) { $0 }
        }
        XCTAssertTrue(Self.bits(all) == Self.bits(rows))
    }

    // MARK: metadata

    func testMetadataOfEveryValueType() throws {
        let exp = Self.expected["metadata"] as! [String: Any]
        let f = try GGUFFile(url: Self.fixture("metadata.gguf"))
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.alignment, 32)
        XCTAssertEqual(f.metadataKeys.count, (exp["kv_count"] as! NSNumber).intValue)
        let keys = exp["keys"] as! [String: [String: Any]]
        XCTAssertEqual(Set(f.metadataKeys), Set(keys.keys))
        for (key, entry) in keys {
            let types = entry["types"] as! [String]
            let value = try XCTUnwrap(f.value(key), key)
            XCTAssertEqual(value.type.description, types[0], key)
            if types.count > 1 { XCTAssertEqual(value.arrayElementType?.description, types[1], key) }
        }
        XCTAssertEqual(f.value("v.u8"), .uint8(250))
        XCTAssertEqual(f.value("v.i8"), .int8(-100))
        XCTAssertEqual(f.value("v.u16"), .uint16(65000))
        XCTAssertEqual(f.value("v.i16"), .int16(-32000))
        XCTAssertEqual(f.value("v.u32"), .uint32(4_000_000_000))
        XCTAssertEqual(f.value("v.i32"), .int32(-2_000_000_000))
        XCTAssertEqual(f.value("v.u64"), .uint64(18_000_000_000_000_000_000))
        XCTAssertEqual(f.value("v.i64"), .int64(-9_000_000_000_000_000_000))
        let f32Bits = exp["f32_bits"] as! [String: Any]
        XCTAssertEqual(f.value("v.f32"), .float32(Float(bitPattern: (f32Bits["v.f32"] as! NSNumber).uint32Value)))
        XCTAssertEqual(f.value("v.f64"), .float64(2.718281828459045))
        // int() accepts every integer type
        XCTAssertEqual(f.int("v.u8"), 250)
        XCTAssertEqual(f.int("v.i8"), -100)
        XCTAssertEqual(f.int("v.u16"), 65000)
        XCTAssertEqual(f.int("v.i16"), -32000)
        XCTAssertEqual(f.int("v.u32"), 4_000_000_000)
        XCTAssertEqual(f.int("v.i32"), -2_000_000_000)
        XCTAssertNil(f.int("v.u64"))                      // 1.8e19 > Int.max
        XCTAssertEqual(f.int("v.i64"), -9_000_000_000_000_000_000)
        XCTAssertNil(f.int("v.str"))
        XCTAssertNil(f.int("missing"))
        XCTAssertEqual(f.double("v.f32"), Double(Float(0.1)))
        XCTAssertEqual(f.double("v.f64"), 2.718281828459045)
        XCTAssertEqual(f.double("v.i32"), -2e9)
        XCTAssertEqual(f.bool("v.bool_t"), true)
        XCTAssertEqual(f.bool("v.bool_f"), false)
        XCTAssertNil(f.bool("v.u8"))
        XCTAssertEqual(f.string("v.str"), "héllo wörld ✓ 🙂")
        XCTAssertEqual(f.string("v.empty_str"), "")
        XCTAssertEqual(f.string("general.architecture"), "test")
        XCTAssertEqual(f.architecture, "test")
        // arrays
        XCTAssertEqual(f.intArray("a.u8"), [0, 1, 255])
        XCTAssertEqual(f.intArray("a.i8"), [-128, 0, 127])
        XCTAssertEqual(f.intArray("a.u16"), [0, 65535])
        XCTAssertEqual(f.intArray("a.i16"), [-32768, 32767])
        XCTAssertEqual(f.intArray("a.u32"), [0, 4_294_967_295])
        XCTAssertEqual(f.intArray("a.i32"), [-5, 0, 7, 2_147_483_647])
        XCTAssertEqual(f.intArray("a.i64"), [Int.min, 5])
        XCTAssertNil(f.intArray("a.u64"))                 // UInt64.max does not fit
        XCTAssertEqual(f.value("a.u64"), .array(.uint64, [.uint64(0), .uint64(.max)]))
        XCTAssertEqual(f.floatArray("a.f32").map(Self.bits), Self.uint32s(f32Bits["a.f32"]))
        XCTAssertEqual(f.floatArray("a.f64"), [1.5, Float(-0.1)])
        XCTAssertEqual(f.value("a.f64"), .array(.float64, [.float64(1.5), .float64(-0.1)]))
        XCTAssertEqual(f.value("a.bool"), .array(.bool, [.bool(true), .bool(false), .bool(true)]))
        XCTAssertEqual(f.stringArray("a.str"), ["a", "", "ünï", "<|im_end|>", "Ġthe"])
        XCTAssertNil(f.stringArray("a.u8"))
        XCTAssertNil(f.intArray("a.str"))
        // nested arrays keep their structure (gguf-py's reader flattens them; compare with what was written)
        let written = exp["nested_written"] as! [String: Any]
        XCTAssertEqual(written["a.nested"] as? [[Int]], [[1, 2, 3], [4]])
        XCTAssertEqual(f.value("a.nested"), .array(.array, [.array(.int32, [.int32(1), .int32(2), .int32(3)]),
                                                            .array(.int32, [.int32(4)])]))
        XCTAssertEqual(f.value("a.nested_str"), .array(.array, [.array(.string, [.string("x"), .string("y")]),
                                                                .array(.string, [.string("z")])]))
        XCTAssertEqual(f.value("a.nested2"), .array(.array, [
            .array(.array, [.array(.float32, [.float32(1.5)]), .array(.float32, [.float32(2.5), .float32(3.5)])]),
            .array(.array, [.array(.float32, [.float32(-1.0)])])]))
        XCTAssertEqual(f.value("a.nested")?.typeDescription, "ARRAY[ARRAY]")
        XCTAssertNil(f.intArray("a.nested"))
        // the one tensor
        XCTAssertEqual(try f.dequantize("m.one"), (0..<8).map(Float.init))
        // required accessors
        XCTAssertThrowsError(try f.requiredInt("missing.key")) {
            XCTAssertEqual($0 as? GGUFError, .missingKey(path: f.path, key: "missing.key"))
            XCTAssertTrue($0.localizedDescription.contains("metadata.gguf"))
        }
        XCTAssertThrowsError(try f.requiredString("v.u8")) {
            XCTAssertEqual($0 as? GGUFError, .typeMismatch(path: f.path, key: "v.u8", expected: "STRING",
                                                           found: "UINT8"))
        }
        XCTAssertEqual(try f.requiredDouble("v.f64"), 2.718281828459045)
    }

    // MARK: Hugging Face mapping

    func testHFNames() {
        let cases: [(String, String?)] = [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"),
            ("blk.12.attn_q.weight", "model.layers.12.self_attn.q_proj.weight"),
            ("blk.1.attn_q.bias", "model.layers.1.self_attn.q_proj.bias"),
            ("blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight"),
            ("blk.1.attn_v.bias", "model.layers.1.self_attn.v_proj.bias"),
            ("blk.1.attn_output.weight", "model.layers.1.self_attn.o_proj.weight"),
            ("blk.1.attn_q_norm.weight", "model.layers.1.self_attn.q_norm.weight"),
            ("blk.1.ffn_norm.weight", "model.layers.1.post_attention_layernorm.weight"),
            ("blk.29.ffn_gate.weight", "model.layers.29.mlp.gate_proj.weight"),
            ("blk.29.ffn_up.weight", "model.layers.29.mlp.up_proj.weight"),
            ("blk.29.ffn_down.weight", "model.layers.29.mlp.down_proj.weight"),
            ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
            ("rope_freqs.weight", nil), ("blk.x.attn_q.weight", nil), ("blk.01.attn_q.weight", nil),
            ("blk.0.attn_q.scale", nil), ("blk.0.unknown.weight", nil), ("token_embd", nil),
        ]
        for (gguf, hf) in cases { XCTAssertEqual(GGUFFile.hfName(forGGUFName: gguf), hf, gguf) }
    }

    func checkTinyModel(_ arch: String) throws {
        let exp = Self.expected["tiny_\(arch)"] as! [String: Any]
        let f = try GGUFFile(url: Self.fixture("tiny_\(arch).gguf"))
        XCTAssertEqual(f.architecture, arch)
        let tensors = exp["tensors"] as! [String: [String: Any]]
        let mapped = try f.hfTensors()
        XCTAssertEqual(Set(mapped.map(\.name)), Set(tensors.keys))
        XCTAssertEqual(mapped.count, tensors.count)
        XCTAssertEqual(f.hfUnmappedTensorNames(), exp["unmapped"] as! [String])
        let permuted = exp["permuted"] as! Bool
        XCTAssertEqual(GGUFFile.permutedArchitectures.contains(arch), permuted)
        for t in mapped {
            let e = tensors[t.name]!
            XCTAssertEqual(t.info.name, e["gguf"] as! String)
            XCTAssertEqual(t.info.type.description, e["type"] as! String, t.name)
            XCTAssertEqual(t.shape, Self.ints(e["shape"]), t.name)
            let values = try f.dequantize(t)
            XCTAssertEqual(Self.checksum(values), e["checksum"] as! String, "\(t.name) (\(t.info.type))")
            XCTAssertEqual(Self.bits(Array(values.prefix(4))), Self.uint32s(e["first"]), t.name)
            if let b = e["bits"] { XCTAssertEqual(Self.bits(values), Self.uint32s(b), t.name) }
            let isQ = t.name.contains(".q_proj."), isK = t.name.contains(".k_proj.")
            let heads = isQ ? (exp["n_head"] as! NSNumber).intValue
                : isK ? (exp["n_head_kv"] as! NSNumber).intValue : nil
            XCTAssertEqual(t.permutationHeads, permuted ? heads : nil, t.name)
            if permuted && (isQ || isK) {
                // stored order differs from HF order, and the raw-bytes path applies the same row permutation
                XCTAssertNotEqual(Self.bits(try f.dequantize(t.info)), Self.bits(values), t.name)
                let raw = try f.rawData(t)
                let reordered = GGUFTensorInfo(name: t.info.name, dims: t.info.dims, type: t.info.type, offset: 0,
                                               fileOffset: 0, byteCount: raw.count)
                let fromRaw: [Float] = raw.withUnsafeBytes { bytes in
                    if t.info.type == .f32 {
                        return (0..<values.count).map { bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
                    }
                    return dequantizeRawForTest(reordered, bytes)
                }
                XCTAssertEqual(Self.bits(fromRaw), Self.bits(values), "raw \(t.name)")
            } else {
                XCTAssertEqual(try f.rawData(t), f.rawData(t.info))
            }
            var buffer = [Float](repeating: .nan, count: values.count)
            try buffer.withUnsafeMutableBufferPointer { try f.dequantize(t, into: $0) }
            XCTAssertEqual(Self.bits(buffer), Self.bits(values), t.name)
        }
        XCTAssertEqual(try f.hfTensor(named: "model.norm.weight").info.name, "output_norm.weight")
        XCTAssertThrowsError(try f.hfTensor(named: "model.nope")) {
            XCTAssertEqual($0 as? GGUFError, .tensorNotFound(path: f.path, tensor: "model.nope"))
        }
    }

    /// Dequantizes a tensor's worth of raw bytes (for checking `rawData(_: GGUFHFTensor)` of quantized types).
    func dequantizeRawForTest(_ info: GGUFTensorInfo, _ bytes: UnsafeRawBufferPointer) -> [Float] {
        let url = scratch.appendingPathComponent("raw-\(UUID().uuidString).gguf")
        // a one-tensor GGUF around the bytes: header, no metadata, one tensor info, padding, data
        var file = [UInt8]("GGUF".utf8)
        func add<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { file += $0 } }
        add(UInt32(3)); add(UInt64(1)); add(UInt64(0))
        add(UInt64(info.name.utf8.count)); file += Array(info.name.utf8)
        add(UInt32(info.dims.count)); for d in info.dims { add(UInt64(d)) }
        add(info.type.rawValue); add(UInt64(0))
        while file.count % 32 != 0 { file.append(0) }
        file += Array(bytes)
        try! Data(file).write(to: url)
        let f = try! GGUFFile(url: url)
        return try! f.dequantize(f.tensors[0])
    }

    func testTinyLlamaPermutationUndone() throws { try checkTinyModel("llama") }

    func testTinyQwen2NotPermuted() throws { try checkTinyModel("qwen2") }

    func testHFConfigOfTinyModels() throws {
        for arch in ["llama", "qwen2"] {
            let exp = Self.expected["tiny_\(arch)"] as! [String: Any]
            let f = try GGUFFile(url: Self.fixture("tiny_\(arch).gguf"))
            let c = try f.hfConfig()
            XCTAssertTrue(JSONSerialization.isValidJSONObject(c))
            for (key, want) in exp["config"] as! [String: Any] {
                let got = try XCTUnwrap(c[key], "\(arch): \(key) missing")
                if let w = want as? String {
                    XCTAssertEqual(got as? String, w, "\(arch) \(key)")
                } else if key == "tie_word_embeddings" {
                    XCTAssertEqual(got as? Bool, (want as! NSNumber).boolValue, "\(arch) \(key)")
                } else {
                    XCTAssertEqual(got as? Int, (want as! NSNumber).intValue, "\(arch) \(key)")
                }
            }
            XCTAssertEqual(c["rms_norm_eps"] as? Double, 1e-6)
            XCTAssertEqual(c["hidden_act"] as? String, "silu")
            if arch == "llama" {
                XCTAssertEqual(c["architectures"] as? [String], ["LlamaForCausalLM"])
                XCTAssertEqual(c["rope_theta"] as? Double, 500000)
                XCTAssertEqual(c["head_dim"] as? Int, 8)
                XCTAssertEqual(c["attention_bias"] as? Bool, false)
                let scaling = try XCTUnwrap(c["rope_scaling"] as? [String: Any])
                XCTAssertEqual(scaling["rope_type"] as? String, "linear")
                XCTAssertEqual(scaling["factor"] as? Double, 2.0)
                XCTAssertEqual(scaling["original_max_position_embeddings"] as? Int, 64)
            } else {
                XCTAssertEqual(c["architectures"] as? [String], ["Qwen2ForCausalLM"])
                XCTAssertEqual(c["rope_theta"] as? Double, 1_000_000)
                XCTAssertNil(c["head_dim"])
                XCTAssertNil(c["rope_scaling"])
                XCTAssertEqual(c["pad_token_id"] as? Int, 2)
            }
        }
        // architectures without a mapping are refused
        let other = try GGUFFile(url: Self.fixture("types.gguf"))
        XCTAssertThrowsError(try other.hfConfig()) {
            XCTAssertEqual($0 as? GGUFError, .unsupportedArchitecture(path: other.path, architecture: "test"))
            XCTAssertTrue($0.localizedDescription.contains("types.gguf"))
        }
        XCTAssertThrowsError(try other.hfTensors())
    }

    func testTokenizerMetadataOfTinyModels() throws {
        let llama = try GGUFFile(url: Self.fixture("tiny_llama.gguf")).tokenizerMetadata()
        let tokens = (Self.expected["tiny_llama"] as! [String: Any])["tokens"] as! [String]
        XCTAssertEqual(llama, GGUFTokenizerMetadata(
            model: "llama", pre: "smollm", tokens: tokens, merges: ["a b", "Ġ a", "Ġa b"],
            tokenTypes: [3, 3, 3, 1, 1, 1, 1, 1, 4, 4], scores: [0, 0, 0, -1, -2, -3, -4, -5, 0, 0],
            bosTokenID: 1, eosTokenID: 2, padTokenID: 2, unknownTokenID: 0, addBOS: true, addEOS: false,
            chatTemplate: "{% for m in messages %}{{ m['content'] }}{% endfor %}"))
        let qwen = try GGUFFile(url: Self.fixture("tiny_qwen2.gguf")).tokenizerMetadata()
        XCTAssertEqual(qwen.model, "gpt2")
        XCTAssertEqual(qwen.pre, "qwen2")
        XCTAssertEqual(qwen.scores, [])
        XCTAssertEqual(qwen.eosTokenID, 9)
        XCTAssertEqual(qwen.addBOS, false)
        let none = try GGUFFile(url: Self.fixture("types.gguf")).tokenizerMetadata()
        XCTAssertEqual(none, GGUFTokenizerMetadata())
    }

    // MARK: the real SmolLM2-135M-Instruct Q4_1 file

    nonisolated(unsafe) static let smol: [String: Any] = {
        let data = try! Data(contentsOf: fixture("smollm2.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    func testSmolLM2Header() throws {
        guard let f = try openSmolLM2() else { return }
        let s = Self.smol
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.tensors.count, 272)
        XCTAssertEqual(f.metadataKeys.count, (s["kv_count"] as! NSNumber).intValue)
        XCTAssertEqual(f.dataOffset, (s["data_offset"] as! NSNumber).intValue)
        XCTAssertEqual(f.alignment, 32)
        XCTAssertEqual(f.architecture, "llama")
        XCTAssertEqual(f.int("llama.block_count"), 30)
        XCTAssertEqual(f.int("llama.embedding_length"), 576)
        XCTAssertEqual(f.int("llama.feed_forward_length"), 1536)
        XCTAssertEqual(f.int("llama.attention.head_count"), 9)
        XCTAssertEqual(f.int("llama.attention.head_count_kv"), 3)
        XCTAssertEqual(f.int("llama.context_length"), 8192)
        XCTAssertEqual(f.double("llama.rope.freq_base"), 100000)
        XCTAssertEqual(f.value("llama.attention.layer_norm_rms_epsilon"),
                       .float32(Float(bitPattern: (s["rms_eps_bits"] as! NSNumber).uint32Value)))
        var counts = [String: Int]()
        for t in f.tensors { counts[t.type.description, default: 0] += 1 }
        XCTAssertEqual(counts, ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        XCTAssertEqual(f.tensors.reduce(0) { $0 + $1.elementCount }, 134_515_008)
        XCTAssertNil(f.tensor(named: "output.weight"))

        let tok = f.tokenizerMetadata()
        XCTAssertEqual(tok.model, "gpt2")
        XCTAssertEqual(tok.pre, "smollm")
        XCTAssertEqual(tok.tokens.count, 49152)
        XCTAssertEqual(tok.merges.count, 48900)
        XCTAssertEqual(tok.tokenTypes.count, 49152)
        XCTAssertEqual(tok.tokens[1], s["token_1"] as! String)
        XCTAssertEqual(tok.merges[0], s["merge_0"] as! String)
        XCTAssertEqual(tok.merges[0], "Ġ t")
        XCTAssertEqual(tok.bosTokenID, 1)
        XCTAssertEqual(tok.eosTokenID, 2)
        XCTAssertEqual(tok.padTokenID, 2)
        XCTAssertEqual(tok.unknownTokenID, 0)
        XCTAssertEqual(tok.addBOS, false)
        XCTAssertNil(tok.addEOS)
        XCTAssertTrue(tok.chatTemplate?.contains("<|im_start|>") ?? false)

        let mapped = try f.hfTensors()
        XCTAssertEqual(mapped.count, 272)
        XCTAssertEqual(f.hfUnmappedTensorNames(), [])
        XCTAssertFalse(mapped.contains { $0.name == "lm_head.weight" })
        XCTAssertEqual(mapped.filter { $0.permutationHeads == 9 }.count, 30)
        XCTAssertEqual(mapped.filter { $0.permutationHeads == 3 }.count, 30)
    }

    func testSmolLM2HFConfigMatchesTransformers() throws {
        guard let f = try openSmolLM2() else { return }
        let c = try f.hfConfig()
        XCTAssertTrue(JSONSerialization.isValidJSONObject(c))
        XCTAssertEqual(c["model_type"] as? String, "llama")
        XCTAssertEqual(c["hidden_size"] as? Int, 576)
        XCTAssertEqual(c["intermediate_size"] as? Int, 1536)
        XCTAssertEqual(c["num_hidden_layers"] as? Int, 30)
        XCTAssertEqual(c["num_attention_heads"] as? Int, 9)
        XCTAssertEqual(c["num_key_value_heads"] as? Int, 3)
        XCTAssertEqual(c["rms_norm_eps"] as? Double, 1e-5)
        XCTAssertEqual(c["rope_theta"] as? Double, 100000)
        XCTAssertEqual(c["max_position_embeddings"] as? Int, 8192)
        XCTAssertEqual(c["vocab_size"] as? Int, 49152)
        XCTAssertEqual(c["tie_word_embeddings"] as? Bool, true)
        XCTAssertEqual(c["bos_token_id"] as? Int, 1)
        XCTAssertEqual(c["eos_token_id"] as? Int, 2)
        XCTAssertEqual(c["head_dim"] as? Int, 64)
        XCTAssertNil(c["rope_scaling"])
        // what transformers itself made of the file (AutoConfig.from_pretrained(..., gguf_file=))
        let tx = try XCTUnwrap(Self.smol["transformers"] as? [String: Any],
                               "smollm2.json has no transformers section: rerun make_gguf_fixtures.py with transformers")
        for (key, want) in tx["config"] as! [String: Any] where !(want is NSNull) {
            let got = try XCTUnwrap(c[key], "hfConfig lacks \(key)")
            if let w = want as? String { XCTAssertEqual(got as? String, w, key) }
            else if key == "tie_word_embeddings" { XCTAssertEqual(got as? Bool, (want as! NSNumber).boolValue) }
            else { XCTAssertEqual(got as? Int, (want as! NSNumber).intValue, key) }
        }
        XCTAssertEqual(c["rope_theta"] as? Double, (tx["rope_theta"] as! NSNumber).doubleValue)
        XCTAssertEqual(Float(c["rms_norm_eps"] as! Double), Float((tx["rms_norm_eps"] as! NSNumber).doubleValue))
        XCTAssertEqual(tx["lm_head_is_embed"] as? Bool, true)
    }

    func testSmolLM2TensorsMatchGGUFPyAndTransformers() throws {
        guard let f = try openSmolLM2() else { return }
        let summaries = Self.smol["tensors"] as! [String: [String: Any]]
        XCTAssertEqual(Set(summaries.keys), ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                                             "blk.0.attn_v.weight", "blk.29.ffn_down.weight", "output_norm.weight"])
        var hfChecksums = [String: String]()
        for (gguf, s) in summaries {
            let hfName = s["hf"] as! String
            let t = try f.hfTensor(named: hfName)
            XCTAssertEqual(t.info.name, gguf)
            XCTAssertEqual(t.info.type.description, s["type"] as! String, gguf)
            XCTAssertEqual(t.info.dims, Self.ints(s["dims"]), gguf)
            XCTAssertEqual(t.shape, Self.ints(s["shape"]), gguf)
            let v = try f.dequantize(t)
            var sum = 0.0, absSum = 0.0
            v.withUnsafeBufferPointer { b in
                for x in b { sum += Double(x); absSum += abs(Double(x)) }
            }
            XCTAssertEqual(sum, (s["sum"] as! NSNumber).doubleValue, accuracy: 1e-6 * absSum, gguf)
            XCTAssertEqual(absSum, (s["abs_sum"] as! NSNumber).doubleValue, accuracy: 1e-9 * absSum, gguf)
            let picks = Self.ints(s["picks"])
            XCTAssertEqual(picks.map { v[$0].bitPattern }, Self.uint32s(s["pick_bits"]), gguf)
            let sum32 = Self.checksum(v)
            XCTAssertEqual(sum32, s["checksum"] as! String, "\(gguf) differs from gguf-py (+ numpy unpermute)")
            hfChecksums[hfName] = sum32
        }
        // the llama.cpp permutation undone the same way transformers' GGUF loader does it
        let tx = try XCTUnwrap(Self.smol["transformers"] as? [String: Any])
        for (name, entry) in tx["tensors"] as! [String: [String: Any]] {
            XCTAssertEqual(hfChecksums[name], entry["checksum"] as? String, "\(name) differs from transformers")
            XCTAssertEqual(try f.hfTensor(named: name).shape, Self.ints(entry["shape"]), name)
        }
        // without undoing the permutation q_proj would differ
        let q = try f.hfTensor(named: "model.layers.0.self_attn.q_proj.weight")
        XCTAssertNotEqual(Self.checksum(try f.dequantize(q.info)), hfChecksums[q.name])
    }

    // MARK: corrupt files

    func testTruncatedFiles() throws {
        let types = Self.expected["types"] as! [String: Any]
        let entries = types["tensors"] as! [[String: Any]]
        let dataOffset = (types["data_offset"] as! NSNumber).intValue
        let tableEnd = entries.map { ($0["offset_field"] as! NSNumber).intValue + 8 }.max()!
        XCTAssertLessThanOrEqual(tableEnd, dataOffset)
        let size = try Data(contentsOf: Self.fixture("types.gguf")).count
        // (cut length, what was being read)
        let cuts: [(Int, String)] = [
            (0, "magic"), (3, "magic"), (6, "version"), (12, "tensor count"), (20, "key/value count"),
            (40, "metadata"), (70, "metadata"), (tableEnd - 60, "tensor"), (tableEnd - 3, "tensor"),
        ]
        for (n, context) in cuts {
            let url = try corrupt("types.gguf", as: "cut\(n).gguf") { $0.removeLast($0.count - n) }
            assertOpenFails(url, mentioning: ["truncated"]) {
                guard case .truncated(_, let ctx, _, _, _) = $0 else { return false }
                return ctx.contains(context)
            }
        }
        // cut after the tensor table: the first tensor (in file order) whose data is incomplete is named
        let lastEnd = entries.map {
            ($0["data_offset"] as! NSNumber).intValue + ($0["n_bytes"] as! NSNumber).intValue
        }.max()!
        XCTAssertLessThanOrEqual(lastEnd, size)
        for n in [tableEnd, dataOffset, dataOffset + 100, lastEnd - 1] {
            let first = entries.first {
                ($0["data_offset"] as! NSNumber).intValue + ($0["n_bytes"] as! NSNumber).intValue > n
            }!["name"] as! String
            let url = try corrupt("types.gguf", as: "cutdata\(n).gguf") { $0.removeLast($0.count - n) }
            assertOpenFails(url, mentioning: [first, "truncated"]) {
                guard case .tensorOutOfBounds(_, let tensor, _, let end, let fileSize) = $0 else { return false }
                return fileSize == n && end > n && tensor == first
            }
        }
        // every other cut point of the small metadata file fails cleanly
        let meta = try Data(contentsOf: Self.fixture("metadata.gguf"))
        let metaData = try GGUFFile(url: Self.fixture("metadata.gguf")).dataOffset
        for n in stride(from: 0, to: meta.count, by: 7) {
            let url = try corrupt("metadata.gguf", as: "m\(n).gguf") { $0.removeLast($0.count - n) }
            assertOpenFails(url) {
                if case .truncated = $0 { return n < metaData }
                if case .tensorOutOfBounds = $0 { return n >= metaData - 31 }
                return false
            }
        }
    }

    func testBadMagic() throws {
        let url = try corrupt("types.gguf", as: "magic.gguf") { $0[3] = UInt8(ascii: "X") }
        assertOpenFails(url, mentioning: ["GGUX", "magic"]) {
            $0 == .badMagic(path: url.path, found: Array("GGUX".utf8))
        }
        let text = scratch.appendingPathComponent("config.json")
        try Data("{\"model_type\": \"llama\"}".utf8).write(to: text)
        assertOpenFails(text) { if case .badMagic = $0 { return true } else { return false } }
    }

    func testUnsupportedVersions() throws {
        for version: UInt32 in [1, 4, 0, 0x0300_0000] {
            let url = try corrupt("types.gguf", as: "v\(version).gguf") { Self.put(version, at: 4, in: &$0) }
            assertOpenFails(url, mentioning: ["version \(version)"]) {
                $0 == .unsupportedVersion(path: url.path, version: version)
            }
        }
        let v1 = try corrupt("types.gguf", as: "v1again.gguf") { Self.put(UInt32(1), at: 4, in: &$0) }
        assertOpenFails(v1, mentioning: ["version 1 is not supported"]) { _ in true }
        // version 2 has the same layout: accepted
        let v2 = try corrupt("types.gguf", as: "v2.gguf") { Self.put(UInt32(2), at: 4, in: &$0) }
        XCTAssertEqual(try GGUFFile(url: v2).version, 2)
    }

    func typesEntry(_ name: String) -> [String: Any] {
        let tensors = (Self.expected["types"] as! [String: Any])["tensors"] as! [[String: Any]]
        return tensors.first { $0["name"] as! String == name }!
    }

    func testUnknownTensorType() throws {
        let typeField = (typesEntry("t.q8_0")["type_field"] as! NSNumber).intValue
        for raw: UInt32 in [99, 4, 31, 0xFFFF_FFFF] {               // 4 and 31 are retired ggml type ids
            let url = try corrupt("types.gguf", as: "type\(raw).gguf") { Self.put(raw, at: typeField, in: &$0) }
            assertOpenFails(url, mentioning: ["t.q8_0", "\(raw)"]) {
                $0 == .unknownTensorType(path: url.path, tensor: "t.q8_0", rawType: raw)
            }
        }
    }

    func testTensorOffsetsOutOfBoundsMisalignedOverlapping() throws {
        let q8 = typesEntry("t.q8_0"), q4 = typesEntry("t.q4_0")
        let offsetField = (q8["offset_field"] as! NSNumber).intValue
        for bad: UInt64 in [1 << 20, 1 << 62, UInt64.max - 63] {
            let url = try corrupt("types.gguf", as: "offset\(bad).gguf") { Self.put(bad, at: offsetField, in: &$0) }
            assertOpenFails(url, mentioning: ["t.q8_0", "beyond the end"]) {
                guard case .tensorOutOfBounds(_, "t.q8_0", _, _, _) = $0 else { return false }
                return true
            }
        }
        let own = (q8["offset"] as! NSNumber).uint64Value
        let misaligned = try corrupt("types.gguf", as: "misaligned.gguf") { Self.put(own + 4, at: offsetField, in: &$0) }
        assertOpenFails(misaligned, mentioning: ["t.q8_0", "alignment 64"]) {
            $0 == .misalignedTensor(path: misaligned.path, tensor: "t.q8_0", offset: Int(own) + 4, alignment: 64)
        }
        let other = (q4["offset"] as! NSNumber).uint64Value
        let overlap = try corrupt("types.gguf", as: "overlap.gguf") { Self.put(other, at: offsetField, in: &$0) }
        assertOpenFails(overlap, mentioning: ["t.q8_0", "t.q4_0", "overlaps"]) {
            guard case .overlappingTensors(_, let a, let b) = $0 else { return false }
            return Set([a, b]) == ["t.q8_0", "t.q4_0"]
        }
    }

    func testDuplicateTensorAndKeyNames() throws {
        let dupTensor = try corrupt("types.gguf", as: "duptensor.gguf") { bytes in
            let end = Self.endOfString("t.f16", in: bytes)
            bytes[end - 2] = UInt8(ascii: "3"); bytes[end - 1] = UInt8(ascii: "2")     // t.f16 -> t.f32
        }
        assertOpenFails(dupTensor, mentioning: ["t.f32"]) {
            $0 == .duplicateTensor(path: dupTensor.path, tensor: "t.f32")
        }
        let dupKey = try corrupt("metadata.gguf", as: "dupkey.gguf") { bytes in
            let end = Self.endOfString("v.i8", in: bytes)
            bytes[end - 2] = UInt8(ascii: "u")                                              // v.i8 -> v.u8
        }
        assertOpenFails(dupKey, mentioning: ["v.u8"]) { $0 == .duplicateKey(path: dupKey.path, key: "v.u8") }
    }

    func testCorruptMetadata() throws {
        // unknown value type
        let unknown = try corrupt("metadata.gguf", as: "vtype.gguf") { bytes in
            Self.put(UInt32(13), at: Self.endOfString("v.u16", in: bytes), in: &bytes)
        }
        assertOpenFails(unknown, mentioning: ["v.u16", "13"]) {
            $0 == .unknownValueType(path: unknown.path, key: "v.u16", rawType: 13)
        }
        // unknown array element type
        let unknownElement = try corrupt("metadata.gguf", as: "etype.gguf") { bytes in
            Self.put(UInt32(77), at: Self.endOfString("a.i16", in: bytes) + 4, in: &bytes)
        }
        assertOpenFails(unknownElement, mentioning: ["a.i16"]) {
            $0 == .unknownValueType(path: unknownElement.path, key: "a.i16", rawType: 77)
        }
        // a string length beyond the file
        let longString = try corrupt("metadata.gguf", as: "strlen.gguf") { bytes in
            Self.put(UInt64(1) << 40, at: Self.endOfString("v.str", in: bytes) + 4, in: &bytes)
        }
        assertOpenFails(longString, mentioning: ["v.str", "truncated"]) {
            guard case .truncated(_, let ctx, _, let needed, _) = $0 else { return false }
            return ctx.contains("v.str") && needed == 1 << 40
        }
        // an absurd array count
        let longArray = try corrupt("metadata.gguf", as: "arraylen.gguf") { bytes in
            Self.put(UInt64(1) << 60, at: Self.endOfString("a.str", in: bytes) + 8, in: &bytes)
        }
        assertOpenFails(longArray, mentioning: ["a.str"]) {
            guard case .truncated(_, let ctx, _, _, _) = $0 else { return false }
            return ctx.contains("a.str") && ctx.contains("\(UInt64(1) << 60)")
        }
        // absurd header counts
        for (field, name) in [(8, "tensor"), (16, "key/value")] {
            let url = try corrupt("metadata.gguf", as: "count\(field).gguf") {
                Self.put(UInt64(1) << 58, at: field, in: &$0)
            }
            assertOpenFails(url, mentioning: [name]) {
                guard case .truncated(_, let ctx, _, _, _) = $0 else { return false }
                return ctx.contains(name) && ctx.contains("\(UInt64(1) << 58)")
            }
        }
        // a general.alignment that is not a power of two, or not a UINT32
        let badAlign = try corrupt("types.gguf", as: "align.gguf") { bytes in
            Self.put(UInt32(48), at: Self.endOfString("general.alignment", in: bytes) + 4, in: &bytes)
        }
        assertOpenFails(badAlign, mentioning: ["general.alignment", "48"]) {
            guard case .invalidMetadata(_, "general.alignment", _) = $0 else { return false }
            return true
        }
        let alignType = try corrupt("types.gguf", as: "aligntype.gguf") { bytes in
            Self.put(GGUFValueType.int32.rawValue, at: Self.endOfString("general.alignment", in: bytes), in: &bytes)
        }
        assertOpenFails(alignType, mentioning: ["general.alignment"]) {
            $0 == .typeMismatch(path: alignType.path, key: "general.alignment", expected: "UINT32", found: "INT32")
        }
    }

    func testMissingFileAndDirectory() {
        let missing = scratch.appendingPathComponent("absent.gguf")
        assertOpenFails(missing) { if case .cannotOpen = $0 { return true } else { return false } }
        assertOpenFails(scratch) { if case .cannotOpen = $0 { return true } else { return false } }
    }

    func testBadTensorShapes() throws {
        // a Q8_0 row of 64 elements relabelled as 3 dims... simpler: change Q4_1's ne[0] from 64 to 48
        let entry = typesEntry("t.q4_1")
        let typeField = (entry["type_field"] as! NSNumber).intValue
        let url = try corrupt("types.gguf", as: "rowlen.gguf") { bytes in
            // dims are the 3 u64 before the type field; ne[0] is the first of them
            Self.put(UInt64(48), at: typeField - 24, in: &bytes)
        }
        assertOpenFails(url, mentioning: ["t.q4_1", "block size 32"]) {
            guard case .invalidTensor(_, "t.q4_1", _) = $0 else { return false }
            return true
        }
        let ndims = try corrupt("types.gguf", as: "ndims.gguf") { bytes in
            Self.put(UInt32(9), at: typeField - 28, in: &bytes)
        }
        assertOpenFails(ndims, mentioning: ["t.q4_1"]) {
            guard case .invalidTensor(_, "t.q4_1", _) = $0 else { return false }
            return true
        }
    }
}
