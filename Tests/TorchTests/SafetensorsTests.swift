import Foundation
import XCTest
import Torch

/// Pure-Swift safetensors: round trips, byte-exact output, rejection of every kind of corrupt file with a message that
/// names the file (and tensor), sharded checkpoints, and interop with Python's reference implementation both ways.
final class SafetensorsTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("SafetensorsTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - Round trips

    func testRoundTripOfEveryDTypeScalarEmptyAndMetadata() throws {
        var tensors: [SafetensorsWriter.Tensor] = DType.allCases.enumerated().map { index, dtype in
            let count = 2 * 3 * dtype.byteSize
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: dtype == .bool ? $0 % 2 : $0 * 37 + index) }
            return .init(name: "weights.\(dtype.safetensorsName)", dtype: dtype, shape: [2, 3], data: Data(bytes))
        }
        tensors.append(.init(name: "scalar", dtype: .float64, shape: [], data: bytes(of: 2.75 as Double)))
        tensors.append(.init(name: "empty", dtype: .int32, shape: [0, 5], data: Data()))
        tensors.append(.init(name: "empty.bf16", dtype: .bfloat16, shape: [3, 0], data: Data()))
        let metadata = ["format": "pt", "note": "caf\u{E9} \u{2713} \"quoted\" back\\slash\n\t\u{01} \u{1F600}"]
        let url = directory.appendingPathComponent("all.safetensors")

        try SafetensorsWriter.write(tensors.reversed(), metadata: metadata, to: url)
        let file = try SafetensorsFile(url: url)

        XCTAssertEqual(file.metadata, metadata)
        XCTAssertEqual(file.entries.count, tensors.count)
        XCTAssertEqual(file.dataOffset % 8, 0, "header must be padded to a multiple of 8 bytes")
        for tensor in tensors {
            let entry = try XCTUnwrap(file.entry(tensor.name), tensor.name)
            XCTAssertEqual(entry.dtype, tensor.dtype, tensor.name)
            XCTAssertEqual(entry.shape, tensor.shape, tensor.name)
            XCTAssertEqual(try file.withBytes(of: tensor.name) { Data($0) }, tensor.data, tensor.name)
        }
        XCTAssertEqual(file.entry("scalar")?.elementCount, 1)
        XCTAssertEqual(file.entry("empty")?.elementCount, 0)
        XCTAssertEqual(file.names, tensors.map(\.name).sorted(), "the writer lays data out sorted by name")
    }

    func testEmptyFileWithoutTensorsRoundTrips() throws {
        let url = directory.appendingPathComponent("none.safetensors")
        try SafetensorsWriter.write([], to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertTrue(file.entries.isEmpty)
        XCTAssertEqual(file.metadata, [:])
        XCTAssertEqual(try Data(contentsOf: url), Data([8, 0, 0, 0, 0, 0, 0, 0]) + Data("{}      ".utf8))
    }

    func testOutputIsByteExactAndIndependentOfInputOrder() throws {
        let tensors: [SafetensorsWriter.Tensor] = [
            .init(name: "b", dtype: .float32, shape: [1], data: bytes(of: Float(1.5))),
            .init(name: "a", dtype: .uint8, shape: [2], data: Data([7, 9])),
        ]
        let first = directory.appendingPathComponent("first.safetensors")
        let second = directory.appendingPathComponent("second.safetensors")
        try SafetensorsWriter.write(tensors, metadata: ["z": "1", "k": "v"], to: first)
        try SafetensorsWriter.write(tensors.reversed(), metadata: ["k": "v", "z": "1"], to: second)

        let header = #"{"__metadata__":{"k":"v","z":"1"},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"#
            + #""b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#
        let padded = header + String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        var expected = Data()
        expected.append(bytes(of: UInt64(padded.utf8.count).littleEndian))
        expected.append(Data(padded.utf8))
        expected.append(Data([7, 9]))
        expected.append(bytes(of: Float(1.5)))
        XCTAssertEqual(try Data(contentsOf: first), expected)
        XCTAssertEqual(try Data(contentsOf: second), expected)
    }

    // MARK: - Atomic writes and writer validation

    func testWriteReplacesExistingFileAndLeavesNoTemporaryFile() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write([.init(name: "old", dtype: .uint8, shape: [1], data: Data([1]))], to: url)
        try SafetensorsWriter.write([.init(name: "new", dtype: .uint8, shape: [2], data: Data([2, 3]))], to: url)
        XCTAssertEqual(try SafetensorsFile(url: url).names, ["new"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])
    }

    func testInvalidInputLeavesExistingFileUntouched() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write([.init(name: "old", dtype: .uint8, shape: [1], data: Data([1]))], to: url)
        let before = try Data(contentsOf: url)
        XCTAssertThrowsError(try SafetensorsWriter.write(
            [.init(name: "bad", dtype: .float32, shape: [2], data: Data([1, 2, 3]))], to: url))
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])
    }

    /// Streamed tensors give the bytes the whole-data writer gives; one that produces a wrong byte count fails the
    /// write and leaves the old file as it was, with no temporary file.
    func testStreamedWriteIsTheSameFileAndCountsItsBytes() throws {
        let whole = directory.appendingPathComponent("whole.safetensors")
        let streamed = directory.appendingPathComponent("streamed.safetensors")
        let data: [String: [UInt8]] = ["a": Array(0..<12), "b": [9, 8, 7, 6]]
        try SafetensorsWriter.write([.init(name: "a", dtype: .float32, shape: [3], data: Data(data["a"]!)),
                                     .init(name: "b", dtype: .int8, shape: [2, 2], data: Data(data["b"]!))],
                                    metadata: ["k": "v"], to: whole)
        try SafetensorsWriter.write(streaming: [
            .init(name: "b", dtype: .int8, shape: [2, 2]) { sink in try data["b"]!.withUnsafeBytes { try sink($0) } },
            .init(name: "a", dtype: .float32, shape: [3]) { sink in
                // In pieces.
                try data["a"]!.withUnsafeBytes { bytes in
                    try sink(UnsafeRawBufferPointer(rebasing: bytes[0..<5]))
                    try sink(UnsafeRawBufferPointer(rebasing: bytes[5...]))
                }
            },
        ], metadata: ["k": "v"], to: streamed)
        XCTAssertEqual(try Data(contentsOf: streamed), try Data(contentsOf: whole))

        let before = try Data(contentsOf: streamed)
        for count in [3, 5] {
            XCTAssertThrowsError(try SafetensorsWriter.write(streaming: [
                .init(name: "b", dtype: .int8, shape: [4]) { sink in try [UInt8](repeating: 1, count: count).withUnsafeBytes { try sink($0) } },
            ], to: streamed)) { error in XCTAssertTrue("\(error)".contains("needs 4 bytes"), "\(error)") }
            XCTAssertEqual(try Data(contentsOf: streamed), before)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
                       ["streamed.safetensors", "whole.safetensors"])
    }

    /// Tensors over a copy-on-write mapping read the file's values without a copy, outlive the file object, and
    /// an in-place write changes the tensor but never the file.
    func testMappedTensorsShareTheMappingAndNeverWriteTheFile() throws {
        let url = directory.appendingPathComponent("mapped.safetensors")
        try Safetensors.save(["w": try Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]),
                              "i": try Tensor([5, 6] as [Int64])], to: url)
        let before = try Data(contentsOf: url)
        var tensor: Tensor?
        do {
            let file = try SafetensorsFile(url: url, mapping: .copyOnWrite)
            tensor = try file.mappedTensor("w")
            XCTAssertEqual(try file.mappedTensor("i").toArray(Int64.self), [5, 6])
        }
        let w = try XCTUnwrap(tensor)
        XCTAssertEqual(w.shape, [2, 2])
        XCTAssertEqual(try w.toArray(Float.self), [1, 2, 3, 4])
        try w.fill(2)
        XCTAssertEqual(try w.toArray(Float.self), [2, 2, 2, 2])
        XCTAssertEqual(try Data(contentsOf: url), before)
        // A read-only mapping hands out copies.
        let copy = try SafetensorsFile(url: url).mappedTensor("w")
        try copy.zero()
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertThrowsError(try SafetensorsFile(url: url, mapping: .copyOnWrite).mappedTensor("x"))
    }

    func testWriteIntoMissingDirectoryFails() {
        let url = directory.appendingPathComponent("missing/model.safetensors")
        expectError(try SafetensorsWriter.write([], to: url), mentions: ["missing/model.safetensors"]) {
            if case .writeFailed(url.path, _) = $0 { true } else { false }
        }
    }

    func testWriterRejectsInconsistentTensors() {
        let url = directory.appendingPathComponent("x.safetensors")
        let short = SafetensorsWriter.Tensor(name: "w", dtype: .float32, shape: [2, 2], data: Data(count: 12))
        expectError(try SafetensorsWriter.write([short], to: url),
                    mentions: ["'w'", "16 bytes", "got 12"]) {
            if case .invalidTensor("w", _) = $0 { true } else { false }
        }
        expectError(try SafetensorsWriter.write([.init(name: "w", dtype: .int8, shape: [-1], data: Data())], to: url),
                    mentions: ["'w'", "negative"]) {
            if case .invalidTensor("w", _) = $0 { true } else { false }
        }
        expectError(try SafetensorsWriter.write([.init(name: "__metadata__", dtype: .int8, shape: [], data: Data([0]))],
                                                to: url),
                    mentions: ["__metadata__", "reserved"]) {
            if case .invalidTensor("__metadata__", _) = $0 { true } else { false }
        }
        let duplicate = SafetensorsWriter.Tensor(name: "w", dtype: .uint8, shape: [1], data: Data([0]))
        expectError(try SafetensorsWriter.write([duplicate, duplicate], to: url),
                    equals: .duplicateTensorName(tensor: "w"), mentions: ["'w'"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    // MARK: - Header and file-level corruption

    func testFileShorterThanHeaderLength() throws {
        let url = try craftRaw("short.safetensors", Data([1, 0, 0, 0, 0]))
        expectError(try SafetensorsFile(url: url), equals: .fileTooShort(path: url.path, size: 5),
                    mentions: ["short.safetensors", "truncated"])
        let empty = try craftRaw("empty.safetensors", Data())
        expectError(try SafetensorsFile(url: empty), equals: .fileTooShort(path: empty.path, size: 0),
                    mentions: ["empty.safetensors"])
    }

    func testHeaderLengthBeyondEndOfFile() throws {
        let url = try craft("long.safetensors", header: "{}", declaredLength: 1000)
        expectError(try SafetensorsFile(url: url),
                    equals: .headerExceedsFile(path: url.path, headerLength: 1000, fileSize: 10),
                    mentions: ["long.safetensors", "1000"])
        let huge = try craft("huge.safetensors", header: "{}", declaredLength: .max)
        expectError(try SafetensorsFile(url: huge),
                    equals: .headerTooLarge(path: huge.path, headerLength: .max,
                                            limit: SafetensorsFile.maxHeaderLength),
                    mentions: ["huge.safetensors"])
    }

    func testHeaderThatIsNotUTF8JSONObject() throws {
        let cases: [(String, Data, String)] = [
            ("utf8", Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]), "UTF-8"),
            ("truncated", Data(#"{"w": {"dtype": "F32","#.utf8), "end of input"),
            ("trailing", Data(#"{} x"#.utf8), "after the JSON value"),
            ("array", Data("[1, 2]".utf8), "not a JSON object"),
            ("nul", Data("{}\0".utf8), "byte 2"),
            ("duplicate", Data(#"{"w": {}, "w": {}}"#.utf8), #"duplicate key "w""#),
            ("leadingzero", Data(#"{"w": 01}"#.utf8), "byte"),
            ("surrogate", Data(#"{"\ud800": 1}"#.utf8), "surrogate"),
            ("deep", Data((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8),
             "nesting"),
        ]
        for (name, header, fragment) in cases {
            let url = try craft("\(name).safetensors", header: header)
            expectError(try SafetensorsFile(url: url), mentions: ["\(name).safetensors", fragment]) {
                if case .invalidHeader(url.path, _) = $0 { true } else { false }
            }
        }
    }

    func testMetadataMustBeAnObjectOfStrings() throws {
        let number = try craft("meta.safetensors", header: #"{"__metadata__": {"format": "pt", "step": 5}}"#)
        expectError(try SafetensorsFile(url: number), mentions: ["meta.safetensors", #""step""#, "expected a string"]) {
            if case .invalidMetadata(number.path, _) = $0 { true } else { false }
        }
        let array = try craft("meta-array.safetensors", header: #"{"__metadata__": ["pt"]}"#)
        expectError(try SafetensorsFile(url: array), mentions: ["meta-array.safetensors", "an array"]) {
            if case .invalidMetadata(array.path, _) = $0 { true } else { false }
        }
    }

    // MARK: - Entry corruption

    func testEntryWithMissingOrMistypedFields() throws {
        let cases: [(String, String, String)] = [
            ("notobject", #"{"w": 5}"#, "an integer (5)"),
            ("nodtype", #"{"w": {"shape": [1], "data_offsets": [0, 4]}}"#, #"missing field "dtype""#),
            ("noshape", #"{"w": {"dtype": "F32", "data_offsets": [0, 4]}}"#, #"missing field "shape""#),
            ("nooffsets", #"{"w": {"dtype": "F32", "shape": [1]}}"#, #"missing field "data_offsets""#),
            ("dtypenumber", #"{"w": {"dtype": 6, "shape": [1], "data_offsets": [0, 4]}}"#, #""dtype" is an integer"#),
            ("shapestring", #"{"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}"#, #""shape" is a string"#),
            ("shapefloat", #"{"w": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}"#, "non-integer"),
            ("shapebool", #"{"w": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}}"#, "a boolean"),
            ("shapenegative", #"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, "negative (-1)"),
            ("offsetsone", #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4]}}"#, "1 elements"),
            ("offsetsthree", #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}"#, "3 elements"),
            ("offsetsdescending", #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}"#, "end before"),
            ("offsetsnegative", #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}"#, "negative"),
            ("offsetsstring", #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}}"#, "a string"),
            ("overflow", #"{"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}"#,
             "more elements"),
        ]
        for (name, header, fragment) in cases {
            let url = try craft("\(name).safetensors", header: header, data: Data(count: 4))
            expectError(try SafetensorsFile(url: url), mentions: ["\(name).safetensors", "'w'", fragment]) {
                if case .invalidEntry(url.path, "w", _) = $0 { true } else { false }
            }
        }
    }

    func testUnknownDTypeIsNamed() throws {
        let url = try craft("fp8.safetensors", header: "{\(entry("w", "F8_E4M3", [1], 0, 1))}", data: Data([0]))
        expectError(try SafetensorsFile(url: url), equals: .unknownDType(path: url.path, tensor: "w", dtype: "F8_E4M3"),
                    mentions: ["fp8.safetensors", "'w'", "F8_E4M3", "BF16"])
    }

    func testSizeMismatchBetweenShapeAndOffsets() throws {
        let url = try craft("size.safetensors", header: "{\(entry("w", "F32", [2, 3], 0, 20))}", data: Data(count: 20))
        expectError(try SafetensorsFile(url: url),
                    equals: .sizeMismatch(path: url.path, tensor: "w", dtype: "F32", shape: [2, 3], expectedBytes: 24,
                                          actualBytes: 20),
                    mentions: ["size.safetensors", "'w'", "24", "20"])
    }

    func testDataBeyondEndOfFile() throws {
        let url = try craft("cut.safetensors", header: "{\(entry("w", "F32", [2], 0, 8))}", data: Data(count: 4))
        expectError(try SafetensorsFile(url: url),
                    equals: .dataOutOfBounds(path: url.path, tensor: "w", end: 8, dataLength: 4),
                    mentions: ["cut.safetensors", "'w'", "truncated"])

        // Offsets past 2^32 must parse as 64-bit integers, not wrap or fail as numbers.
        let far = try craft("far.safetensors", header: "{\(entry("w", "F32", [1_500_000_000], 0, 6_000_000_000))}",
                            data: Data(count: 4))
        expectError(try SafetensorsFile(url: far),
                    equals: .dataOutOfBounds(path: far.path, tensor: "w", end: 6_000_000_000, dataLength: 4),
                    mentions: ["far.safetensors", "6000000000"])
    }

    func testOverlappingTensorsNameBoth() throws {
        let header = "{\(entry("a", "F32", [2], 0, 8)), \(entry("b", "F32", [2], 4, 12))}"
        let url = try craft("overlap.safetensors", header: header, data: Data(count: 12))
        expectError(try SafetensorsFile(url: url),
                    equals: .overlappingData(path: url.path, tensor: "b", range: 4..<12, other: "a", otherRange: 0..<8),
                    mentions: ["overlap.safetensors", "'a'", "'b'", "overlaps"])
    }

    func testHolesAndUnclaimedBytesAreRejected() throws {
        let gapHeader = "{\(entry("a", "F32", [1], 0, 4)), \(entry("b", "F32", [1], 8, 12))}"
        let gap = try craft("gap.safetensors", header: gapHeader, data: Data(count: 12))
        expectError(try SafetensorsFile(url: gap),
                    equals: .dataGap(path: gap.path, tensor: "b", start: 8, previousEnd: 4),
                    mentions: ["gap.safetensors", "'b'", "previous tensor ends"])

        let leading = try craft("leading.safetensors", header: "{\(entry("a", "F32", [1], 4, 8))}",
                                data: Data(count: 8))
        expectError(try SafetensorsFile(url: leading),
                    equals: .dataGap(path: leading.path, tensor: "a", start: 4, previousEnd: 0),
                    mentions: ["leading.safetensors", "'a'"])

        let trailing = try craft("trailing.safetensors", header: "{\(entry("a", "F32", [1], 0, 4))}",
                                 data: Data(count: 8))
        expectError(try SafetensorsFile(url: trailing),
                    equals: .trailingData(path: trailing.path, coveredBytes: 4, dataLength: 8),
                    mentions: ["trailing.safetensors", "4", "8"])
    }

    func testLenientWhereTheReferenceIsLenient() throws {
        // Null metadata, unknown entry fields, whitespace padding, JSON escapes in names, and zero-element tensors
        // sharing an offset with the next tensor (as Python writes them) are all valid.
        let url = try craft("valid.safetensors", header: """
            {"__metadata__": null,
             "caf\\u00e9 \\ud83d\\ude00 \\"q\\"": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0], "extra": [1]},
             "x": {"dtype": "U8", "shape": [], "data_offsets": [0, 1]}}\t\r\n
            """, data: Data([42]))
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata, [:])
        XCTAssertEqual(file.names, ["caf\u{E9} \u{1F600} \"q\"", "x"])
        XCTAssertEqual(try file.withBytes(of: "x") { Array($0) }, [42])
        XCTAssertEqual(try file.withBytes(of: "caf\u{E9} \u{1F600} \"q\"") { $0.count }, 0)
    }

    func testMissingFilesAndTensors() throws {
        let missing = directory.appendingPathComponent("nope.safetensors")
        expectError(try SafetensorsFile(url: missing), mentions: ["nope.safetensors", "No such file"]) {
            if case .cannotOpen(missing.path, _) = $0 { true } else { false }
        }
        expectError(try SafetensorsFile(url: directory),
                    mentions: [directory.lastPathComponent, "not a regular file"]) {
            if case .cannotOpen(self.directory.path, _) = $0 { true } else { false }
        }
        let url = directory.appendingPathComponent("one.safetensors")
        try SafetensorsWriter.write([.init(name: "w", dtype: .uint8, shape: [1], data: Data([1]))], to: url)
        let file = try SafetensorsFile(url: url)
        expectError(try file.withBytes(of: "v") { _ in }, equals: .tensorNotFound(path: url.path, tensor: "v"),
                    mentions: ["one.safetensors", "'v'"])
    }

    // MARK: - Sharded checkpoints

    func testShardedCheckpointRoundTrip() throws {
        let tensors = (0..<6).map { index in
            SafetensorsWriter.Tensor(name: "layers.\(index).weight", dtype: .float32, shape: [index + 2],
                                     data: Data((0..<(4 * (index + 2))).map { UInt8(truncatingIfNeeded: $0 + index) }))
        }
        // 8 + 12 + 16 + 20 + 24 + 28 bytes, at most 40 per shard: [8, 12, 16], [20], [24], [28].
        let written = try SafetensorsCheckpoint.write(tensors, metadata: ["format": "pt"], maxShardBytes: 40,
                                                      to: directory)
        let names = (1...4).map { "model-0000\($0)-of-00004.safetensors" } + ["model.safetensors.index.json"]
        XCTAssertEqual(written.map(\.lastPathComponent), names)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), names.sorted())

        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        XCTAssertEqual(checkpoint.indexURL?.lastPathComponent, "model.safetensors.index.json")
        XCTAssertEqual(checkpoint.files.count, 4)
        XCTAssertEqual(checkpoint.names, tensors.map(\.name).sorted())
        XCTAssertEqual(checkpoint.file(containing: "layers.2.weight")?.url.lastPathComponent,
                       "model-00001-of-00004.safetensors")
        XCTAssertEqual(checkpoint.files.map(\.metadata), Array(repeating: ["format": "pt"], count: 4))
        for tensor in tensors {
            XCTAssertEqual(checkpoint.entry(tensor.name)?.shape, tensor.shape)
            XCTAssertEqual(try checkpoint.withBytes(of: tensor.name) { Data($0) }, tensor.data)
        }
        expectError(try checkpoint.withBytes(of: "ghost") { _ in },
                    equals: .tensorNotFound(path: directory.path, tensor: "ghost"), mentions: ["'ghost'"])

        let index = try String(contentsOf: directory.appendingPathComponent("model.safetensors.index.json"),
                               encoding: .utf8)
        XCTAssertTrue(index.hasPrefix("{\n  \"metadata\": {\n    \"total_size\": 108\n  },\n  \"weight_map\": {\n"))
        XCTAssertTrue(index.contains("    \"layers.5.weight\": \"model-00004-of-00004.safetensors\"\n  }\n}\n"))
    }

    func testSingleShardIsWrittenAsModelSafetensorsAndLayoutsReplaceEachOther() throws {
        let tensors = [SafetensorsWriter.Tensor(name: "a", dtype: .int64, shape: [4], data: Data(count: 32)),
                       SafetensorsWriter.Tensor(name: "b", dtype: .int64, shape: [4], data: Data(count: 32))]
        try SafetensorsCheckpoint.write(tensors, maxShardBytes: 32, to: directory)
        XCTAssertNotNil(try SafetensorsCheckpoint(directory: directory).indexURL)

        let written = try SafetensorsCheckpoint.write(tensors, maxShardBytes: 1 << 30, to: directory)
        XCTAssertEqual(written.map(\.lastPathComponent), ["model.safetensors"])
        let single = try SafetensorsCheckpoint(directory: directory)
        XCTAssertNil(single.indexURL)
        XCTAssertEqual(single.names, ["a", "b"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent(
            "model.safetensors.index.json").path))

        try SafetensorsCheckpoint.write(tensors, maxShardBytes: 32, to: directory)
        XCTAssertFalse(FileManager.default.fileExists(
            atPath: directory.appendingPathComponent("model.safetensors").path))
        XCTAssertEqual(try SafetensorsCheckpoint(directory: directory).files.count, 2)
    }

    func testTensorLargerThanShardLimitGetsItsOwnShard() throws {
        let tensors = [4, 100, 4].enumerated().map { index, count in
            SafetensorsWriter.Tensor(name: "t\(index)", dtype: .uint8, shape: [count], data: Data(count: count))
        }
        let written = try SafetensorsCheckpoint.write(tensors, maxShardBytes: 8, to: directory)
        XCTAssertEqual(written.count, 4)
        XCTAssertEqual(try SafetensorsCheckpoint(directory: directory).file(containing: "t1")?.names, ["t1"])
        expectError(try SafetensorsCheckpoint.write(tensors, maxShardBytes: 0, to: directory),
                    equals: .invalidShardSize(maxShardBytes: 0), mentions: ["0"])
    }

    func testIndexNamingATensorItsShardLacks() throws {
        try writeTwoShards()
        try writeIndex(["a": shard1, "b": shard2, "ghost": shard2])
        expectError(try SafetensorsCheckpoint(directory: directory),
                    equals: .tensorMissingFromShard(indexPath: indexPath, shard: shard2, tensor: "ghost"),
                    mentions: ["model.safetensors.index.json", shard2, "'ghost'"])
    }

    func testIndexNamingAMissingShardFile() throws {
        try writeTwoShards()
        try writeIndex(["a": shard1, "b": "model-00009-of-00009.safetensors"])
        expectError(try SafetensorsCheckpoint(directory: directory),
                    mentions: ["model.safetensors.index.json", "model-00009-of-00009.safetensors", "'b'"]) {
            if case .cannotOpenShard(self.indexPath, "model-00009-of-00009.safetensors", "b", _) = $0 {
                true
            } else {
                false
            }
        }
    }

    func testShardWithTensorMissingFromIndex() throws {
        try writeTwoShards()
        try writeIndex(["a": shard1])
        // A shard the index does not name is never opened (it may be left over from an earlier save)...
        XCTAssertEqual(try SafetensorsCheckpoint(directory: directory).names, ["a"])
        try SafetensorsWriter.write([.init(name: "b", dtype: .uint8, shape: [1], data: Data([2])),
                                     .init(name: "c", dtype: .uint8, shape: [1], data: Data([3]))],
                                    to: directory.appendingPathComponent(shard2))
        // ...but every tensor in a shard it does name must be mapped to that shard.
        try writeIndex(["a": shard1, "b": shard2])
        expectError(try SafetensorsCheckpoint(directory: directory),
                    equals: .tensorNotInWeightMap(indexPath: indexPath, shard: shard2, tensor: "c"),
                    mentions: ["model.safetensors.index.json", shard2, "'c'"])
    }

    func testTensorInTwoShards() throws {
        try writeTwoShards()
        try SafetensorsWriter.write([.init(name: "a", dtype: .uint8, shape: [1], data: Data([1])),
                                     .init(name: "b", dtype: .uint8, shape: [1], data: Data([2]))],
                                    to: directory.appendingPathComponent(shard2))
        try writeIndex(["a": shard1, "b": shard2])
        expectError(try SafetensorsCheckpoint(directory: directory),
                    equals: .tensorInSeveralShards(indexPath: indexPath, tensor: "a", shards: [shard1, shard2]),
                    mentions: ["model.safetensors.index.json", "'a'", shard1, shard2])
    }

    func testMalformedIndexes() throws {
        try writeTwoShards()
        let cases: [(String, String)] = [
            ("not json", "byte"),
            (#"{"metadata": {}}"#, "missing \"weight_map\""),
            (#"{"weight_map": []}"#, "an array"),
            (#"{"weight_map": {}}"#, "empty"),
            (#"{"weight_map": {"a": 1}}"#, "expected a file name"),
            (#"{"weight_map": {"a": "../model-00001-of-00002.safetensors"}}"#, "not a file name"),
            (#"{"weight_map": {"a": ".."}}"#, "not a file name"),
            (#"{"weight_map": {"a": "/etc/passwd"}}"#, "absolute path"),
            (#"{"weight_map": {"a": "outside.safetensors"}}"#, "symlink"),
        ]
        // A shard that is a symlink out of the checkpoint directory.
        let outside = directory.deletingLastPathComponent().appendingPathComponent("outside-\(UUID().uuidString)")
        try Data().write(to: outside)
        defer { try? FileManager.default.removeItem(at: outside) }
        try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("outside.safetensors"),
                                                   withDestinationURL: outside)
        for (text, fragment) in cases {
            try Data(text.utf8).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
            expectError(try SafetensorsCheckpoint(directory: directory),
                        mentions: ["model.safetensors.index.json", fragment]) {
                if case .invalidIndex(self.indexPath, _) = $0 { true } else { false }
            }
        }
    }

    func testDirectoryWithNoneOrBothLayouts() throws {
        expectError(try SafetensorsCheckpoint(directory: directory),
                    equals: .noCheckpoint(directory: directory.path), mentions: [directory.lastPathComponent])
        try SafetensorsWriter.write([], to: directory.appendingPathComponent("model.safetensors"))
        try Data("{}".utf8).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
        expectError(try SafetensorsCheckpoint(directory: directory),
                    equals: .ambiguousCheckpoint(directory: directory.path), mentions: [directory.lastPathComponent])
    }

    // MARK: - Interop with Python's safetensors

    func testReadsPythonWrittenFile() throws {
        let fixtures = try fixturesDirectory()
        let expected = try ExpectedFixture(url: fixtures.appendingPathComponent("expected.json"))
        let file = try SafetensorsFile(url: fixtures.appendingPathComponent("python_written.safetensors"))

        XCTAssertEqual(file.metadata, expected.metadata)
        XCTAssertEqual(Set(file.entries.keys), Set(expected.tensors.map(\.name)))
        for tensor in expected.tensors {
            let entry = try XCTUnwrap(file.entry(tensor.name), tensor.name)
            XCTAssertEqual(entry.dtype, tensor.dtype, tensor.name)
            XCTAssertEqual(entry.shape, tensor.shape, tensor.name)
            XCTAssertEqual(try file.withBytes(of: tensor.name) { Data($0) }, tensor.data, tensor.name)
        }
        // Python lays data out by dtype alignment, then name: the widest types come first.
        XCTAssertEqual(file.names.first, "ids")
        XCTAssertNotEqual(file.names, file.names.sorted())
    }

    func testDecodesPythonWrittenHalfPrecisionValues() throws {
        let fixtures = try fixturesDirectory()
        let file = try SafetensorsFile(url: fixtures.appendingPathComponent("python_written.safetensors"))
        let half = try file.withBytes(of: "half") { buffer in
            (0..<buffer.count / 2).map { floatFromHalf(UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 2 * $0,
                                                                                              as: UInt16.self))) }
        }
        let expectedHalf: [Float] = [1.0, -2.5, 65504.0, 0x1p-14, 0x1p-24, -0.0]
        XCTAssertEqual(half.map(\.bitPattern), expectedHalf.map(\.bitPattern))
        let bf16 = try file.withBytes(of: "bf16.values") { buffer in
            (0..<buffer.count / 2).map {
                Float(bitPattern: UInt32(UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 2 * $0,
                                                                                   as: UInt16.self))) << 16)
            }
        }
        XCTAssertEqual(bf16, [1.0, -0.5, 3.140625, Float(bitPattern: 0x714A_0000)])  // 1e30 rounded to bf16
    }

    func testSwiftWrittenFixtureMatchesPythonWrittenTensors() throws {
        let fixtures = try fixturesDirectory()
        let url = try writeSwiftFixture()
        let swift = try SafetensorsFile(url: url)
        let python = try SafetensorsFile(url: fixtures.appendingPathComponent("python_written.safetensors"))
        XCTAssertEqual(swift.metadata, python.metadata)
        XCTAssertEqual(Set(swift.entries.keys), Set(python.entries.keys))
        for name in python.names {
            XCTAssertEqual(swift.entry(name)?.dtype, python.entry(name)?.dtype, name)
            XCTAssertEqual(swift.entry(name)?.shape, python.entry(name)?.shape, name)
            XCTAssertEqual(try swift.withBytes(of: name) { Data($0) }, try python.withBytes(of: name) { Data($0) },
                           name)
        }
    }

    func testPythonReadsSwiftWrittenFile() throws {
        let fixtures = try fixturesDirectory()
        let url = try writeSwiftFixture()
        guard let python = ProcessInfo.processInfo.environment["MEMORAG_PYTHON"], !python.isEmpty else {
            throw XCTSkip("MEMORAG_PYTHON is not set: set it to a python with safetensors and numpy to check "
                + "\(url.lastPathComponent) with check_swift_written.py")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [fixtures.appendingPathComponent("check_swift_written.py").path, url.path,
                             fixtures.appendingPathComponent("expected.json").path]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONDONTWRITEBYTECODE"] = "1"  // The fixtures directory must stay clean.
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "check_swift_written.py failed:\n\(text)")
    }

    // MARK: - Helpers

    private let shard1 = "model-00001-of-00002.safetensors"
    private let shard2 = "model-00002-of-00002.safetensors"
    private var indexPath: String { directory.appendingPathComponent("model.safetensors.index.json").path }

    private func writeTwoShards() throws {
        try SafetensorsWriter.write([.init(name: "a", dtype: .uint8, shape: [1], data: Data([1]))],
                                    to: directory.appendingPathComponent(shard1))
        try SafetensorsWriter.write([.init(name: "b", dtype: .uint8, shape: [1], data: Data([2]))],
                                    to: directory.appendingPathComponent(shard2))
    }

    private func writeIndex(_ weightMap: [String: String]) throws {
        let json = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 2], "weight_map": weightMap])
        try json.write(to: directory.appendingPathComponent("model.safetensors.index.json"))
    }

    /// Writes the tensors and metadata of expected.json with the Swift writer.
    private func writeSwiftFixture() throws -> URL {
        let expected = try ExpectedFixture(url: try fixturesDirectory().appendingPathComponent("expected.json"))
        let url = directory.appendingPathComponent("swift_written.safetensors")
        try SafetensorsWriter.write(expected.tensors, metadata: expected.metadata, to: url)
        return url
    }

    private func fixturesDirectory() throws -> URL {
        let fixtures = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return fixtures.appendingPathComponent("safetensors", isDirectory: true)
    }

    /// One header entry, as JSON text.
    private func entry(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        #""\#(name)": {"dtype": "\#(dtype)", "shape": \#(shape), "data_offsets": [\#(begin), \#(end)]}"#
    }

    /// A file of `header` preceded by its length (or `declaredLength`), followed by `data`.
    private func craft(_ name: String, header: String, declaredLength: UInt64? = nil, data: Data = Data()) throws
        -> URL
    {
        try craft(name, header: Data(header.utf8), declaredLength: declaredLength, data: data)
    }

    private func craft(_ name: String, header: Data, declaredLength: UInt64? = nil, data: Data = Data()) throws -> URL {
        try craftRaw(name, bytes(of: (declaredLength ?? UInt64(header.count)).littleEndian) + header + data)
    }

    private func craftRaw(_ name: String, _ contents: Data) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try contents.write(to: url)
        return url
    }

    private func bytes<T>(of value: T) -> Data { withUnsafeBytes(of: value) { Data($0) } }

    /// Asserts that `expression` throws a `SafetensorsError` accepted by `matches` whose message contains every one
    /// of `fragments` (the file name and tensor name above all: errors must say where the problem is).
    private func expectError<T>(_ expression: @autoclosure () throws -> T, mentions fragments: [String],
                                file: StaticString = #filePath, line: UInt = #line,
                                matching matches: (SafetensorsError) -> Bool) {
        do {
            _ = try expression()
            XCTFail("expected a SafetensorsError, but the call succeeded", file: file, line: line)
        } catch let error as SafetensorsError {
            XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
            let message = error.localizedDescription
            for fragment in fragments {
                XCTAssertTrue(message.contains(fragment), "\"\(message)\" does not mention \"\(fragment)\"",
                              file: file, line: line)
            }
        } catch {
            XCTFail("expected a SafetensorsError, got \(error)", file: file, line: line)
        }
    }

    private func expectError<T>(_ expression: @autoclosure () throws -> T, equals expected: SafetensorsError,
                                mentions fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        expectError(try expression(), mentions: fragments, file: file, line: line, matching: { $0 == expected })
    }
}

/// expected.json, written by make_fixtures.py: metadata and, per tensor, dtype, shape and flattened values.
private struct ExpectedFixture {
    let metadata: [String: String]
    /// The tensors with their values encoded as little-endian bytes, ready to compare with or to write.
    let tensors: [SafetensorsWriter.Tensor]

    init(url: URL) throws {
        // JSONDecoder, deliberately not the parser under test; and not JSONSerialization, which on Linux rounds some
        // doubles to a neighbouring value (1.0002555517425873e+30 comes back one ulp off).
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        metadata = file.metadata
        tensors = try file.tensors.keys.sorted().map { name in
            let spec = try XCTUnwrap(file.tensors[name])
            let dtype = try XCTUnwrap(DType(safetensorsName: spec.dtype), "\(name): unknown dtype \(spec.dtype)")
            let data = try spec.values.reduce(into: Data()) { data, value in
                data.append(try ExpectedFixture.encode(value, as: dtype, tensor: name))
            }
            return SafetensorsWriter.Tensor(name: name, dtype: dtype, shape: spec.shape, data: data)
        }
    }

    private struct File: Decodable {
        let metadata: [String: String]
        let tensors: [String: Spec]
    }

    /// One tensor. Values are decoded as the dtype says: asked for an integer first, JSONDecoder would also accept
    /// "-0.0" and drop its sign.
    private struct Spec: Decodable {
        let dtype: String
        let shape: [Int]
        let values: [Value]

        private enum CodingKeys: String, CodingKey { case dtype, shape, values }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            dtype = try container.decode(String.self, forKey: .dtype)
            shape = try container.decode([Int].self, forKey: .shape)
            switch DType(safetensorsName: dtype) {
            case .bool?: values = try container.decode([Bool].self, forKey: .values).map(Value.bool)
            case let type? where type.isFloatingPoint:
                values = try container.decode([Double].self, forKey: .values).map(Value.float)
            default: values = try container.decode([Int64].self, forKey: .values).map(Value.integer)
            }
        }
    }

    private enum Value {
        case bool(Bool)
        case integer(Int64)
        case float(Double)
    }

    /// One value as the little-endian bytes of `dtype`, failing when the value is not exactly representable.
    private static func encode(_ value: Value, as dtype: DType, tensor: String) throws -> Data {
        func little<T: FixedWidthInteger>(_ integer: T) -> Data {
            withUnsafeBytes(of: integer.littleEndian) { Data($0) }
        }
        func integer<T: FixedWidthInteger>(_: T.Type) throws -> Data {
            guard case let .integer(wide) = value else { throw FixtureError("\(tensor): \(value) is not an integer") }
            return little(try XCTUnwrap(T(exactly: wide), "\(tensor): \(wide) does not fit \(T.self)"))
        }
        func double() throws -> Double {
            guard case let .float(double) = value else { throw FixtureError("\(tensor): \(value) is not a float") }
            return double
        }
        func float() throws -> Float {
            let double = try double()
            let single = Float(double)
            guard Double(single).bitPattern == double.bitPattern else {
                throw FixtureError("\(tensor): \(double) is not exactly a Float; fix make_fixtures.py")
            }
            return single
        }
        switch dtype {
        case .float64: return little(try double().bitPattern)
        case .float32: return little(try float().bitPattern)
        case .float16:
            let single = try float()
            return little(try XCTUnwrap(halfBits(exactly: single), "\(tensor): \(single) is not exactly a float16"))
        case .bfloat16:
            let bits = try float().bitPattern
            guard bits & 0xFFFF == 0 else { throw FixtureError("\(tensor): \(value) is not exactly a bfloat16") }
            return little(UInt16(bits >> 16))
        case .bool:
            guard case let .bool(flag) = value else { throw FixtureError("\(tensor): \(value) is not a boolean") }
            return Data([flag ? 1 : 0])
        case .int64: return try integer(Int64.self)
        case .int32: return try integer(Int32.self)
        case .int16: return try integer(Int16.self)
        case .int8: return try integer(Int8.self)
        case .uint8: return try integer(UInt8.self)
        }
    }
}

/// A fixture that does not say what it should.
private struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// IEEE binary16 → Float, written out because `Float16` is unavailable on some platforms (macOS on Intel).
private func floatFromHalf(_ bits: UInt16) -> Float {
    let sign: FloatingPointSign = bits & 0x8000 == 0 ? .plus : .minus
    let exponent = Int(bits >> 10 & 0x1F)
    let fraction = Float(bits & 0x3FF)
    switch exponent {
    case 0: return Float(sign: sign, exponent: -24, significand: fraction)  // zero and subnormals
    case 0x1F: return fraction == 0 ? (sign == .minus ? -.infinity : .infinity) : .nan
    default: return Float(sign: sign, exponent: exponent - 25, significand: 1024 + fraction)
    }
}

/// The binary16 bit pattern of `value`, or nil when it has none. A search over all 65,536 patterns is obviously
/// exact, which matters more in a test than speed.
private func halfBits(exactly value: Float) -> UInt16? {
    (0...UInt16.max).first { floatFromHalf($0).bitPattern == value.bitPattern }
}
