import Foundation
import Retrieval
import TestSupport
import Torch
import XCTest

/// faiss through the shim, checked against a brute-force search in Swift and against Python's faiss.
final class VectorIndexTests: XCTestCase {
    /// Exact top-k by dot product (or squared L2 distance), best first.
    private func bruteForce(_ data: [[Float]], _ query: [Float], k: Int, metric: VectorMetric) -> [(id: Int, score: Float)] {
        let scored = data.enumerated().map { id, v -> (id: Int, score: Float) in
            switch metric {
            case .innerProduct: return (id, zip(v, query).map { Float(Double($0) * Double($1)) }.reduce(0, +))
            case .l2: return (id, zip(v, query).map { ($0 - $1) * ($0 - $1) }.reduce(0, +))
            }
        }
        let sorted = metric == .innerProduct ? scored.sorted { $0.score > $1.score } : scored.sorted { $0.score < $1.score }
        return Array(sorted.prefix(k))
    }

    func testFlatSearchEqualsBruteForce() throws {
        var rng = SplitMix64(seed: 1)
        let data = randomUnitVectors(500, dimension: 24, using: &rng)
        let queries = randomUnitVectors(30, dimension: 24, using: &rng)  // ≥ 20 queries: faiss takes its BLAS path
        for metric in [VectorMetric.innerProduct, .l2] {
            let index = try VectorIndex(dimension: 24, factory: "Flat", metric: metric)
            XCTAssertTrue(index.isTrained)
            try index.add(Array(data[..<200]))
            try index.add(Array(data[200...]))
            XCTAssertEqual(index.count, 500)
            for batch in [Array(queries.prefix(3)), queries] {  // the sequential path and the BLAS path
                let results = try index.search(batch, k: 7)
                XCTAssertEqual(results.count, batch.count)
                for (query, hits) in zip(batch, results) {
                    let expected = bruteForce(data, query, k: 7, metric: metric)
                    XCTAssertEqual(hits.map(\.id), expected.map(\.id), "\(metric)")
                    for (a, b) in zip(hits, expected) { XCTAssertEqual(a.score, b.score, accuracy: 1e-4) }
                }
            }
        }
    }

    func testFewerVectorsThanKAndBadInput() throws {
        let index = try VectorIndex(dimension: 4)
        try index.add([[1, 0, 0, 0], [0, 1, 0, 0]])
        let hits = try index.search([[1, 0.5, 0, 0]], k: 5)
        XCTAssertEqual(hits[0].map(\.id), [0, 1])  // empty slots (id -1) are dropped
        XCTAssertEqual(hits[0].map(\.score), [1, 0.5])
        XCTAssertThrowsError(try index.add([[1, 2, 3]])) { error in
            XCTAssertEqual(error as? RetrievalError, .dimensionMismatch(expected: 4, got: 3, what: "vectors to add"))
        }
        XCTAssertThrowsError(try index.search([[1, 0, 0, 0]], k: 0))
        XCTAssertThrowsError(try VectorIndex(dimension: 4, factory: "NoSuchIndex")) { error in
            XCTAssertTrue(error.localizedDescription.contains("NoSuchIndex"), error.localizedDescription)
        }
        let ivf = try VectorIndex(dimension: 4, factory: "IVF4,Flat")
        XCTAssertFalse(ivf.isTrained)
        XCTAssertThrowsError(try ivf.add([[1, 0, 0, 0]])) { error in
            XCTAssertTrue(error.localizedDescription.contains("trained"), error.localizedDescription)
        }
    }

    /// Approximate indexes (trained IVF, HNSW) find most of the true neighbours of random data.
    func testApproximateIndexesRecall() throws {
        var rng = SplitMix64(seed: 2)
        let data = randomUnitVectors(3000, dimension: 32, using: &rng)
        let queries = randomUnitVectors(50, dimension: 32, using: &rng)
        let truth = queries.map { Set(bruteForce(data, $0, k: 10, metric: .innerProduct).map(\.id)) }
        for (factory, parameter, minimumRecall) in [("IVF32,Flat", ("nprobe", 16.0), 0.9), ("HNSW32", ("efSearch", 64.0), 0.9)] {
            let index = try VectorIndex(dimension: 32, factory: factory)
            try index.train(data)
            XCTAssertTrue(index.isTrained, factory)
            try index.add(data)
            try index.setParameter(parameter.0, parameter.1)
            let results = try index.search(queries, k: 10)
            let found = zip(results, truth).map { hits, expected in hits.filter { expected.contains($0.id) }.count }.reduce(0, +)
            let recall = Double(found) / Double(10 * queries.count)
            XCTAssertGreaterThanOrEqual(recall, minimumRecall, "\(factory) recall@10 \(recall)")
            // Scores are the exact dot products of the vectors returned.
            for (query, hits) in zip(queries, results) {
                for hit in hits {
                    XCTAssertEqual(hit.score, zip(data[hit.id], query).map(*).reduce(0, +), accuracy: 1e-4, factory)
                }
            }
        }
    }

    func testWriteReadRoundTripAndPythonReadsIt() throws {
        let directory = try temporaryDirectory("memorag-faiss")
        defer { try? FileManager.default.removeItem(at: directory) }
        var rng = SplitMix64(seed: 3)
        let data = randomUnitVectors(1500, dimension: 16, using: &rng)
        let queries = randomUnitVectors(5, dimension: 16, using: &rng)
        for (name, factory) in [("flat", "Flat"), ("ivf", "IVF16,Flat")] {
            let index = try VectorIndex(dimension: 16, factory: factory)
            try index.train(data)
            try index.add(data)
            let url = directory.appendingPathComponent("\(name).faiss")
            try index.write(to: url)
            try index.write(to: url)  // replacing an existing file
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }, [],
                           "no temporary file is left behind")
            let read = try VectorIndex.read(from: url)
            XCTAssertEqual(read.count, 1500)
            XCTAssertEqual(read.dimension, 16)
            XCTAssertEqual(read.metric, .innerProduct)
            let before = try index.search(queries, k: 4), after = try read.search(queries, k: 4)
            XCTAssertEqual(before.map { $0.map(\.id) }, after.map { $0.map(\.id) }, name)
            XCTAssertEqual(before.map { $0.map(\.score) }, after.map { $0.map(\.score) }, name)

            struct Expected: Encodable { var d: Int, ntotal: Int, metric: String, k: Int, queries: [[Float]], ids: [[Int]], scores: [[Float]] }
            let expected = Expected(d: 16, ntotal: 1500, metric: "ip", k: 4, queries: queries,
                                    ids: before.map { $0.map(\.id) }, scores: before.map { $0.map(\.score) })
            let expectedURL = directory.appendingPathComponent("\(name).json")
            try JSONEncoder().encode(expected).write(to: expectedURL)
            try runFixtureScript("check_faiss_index.py", [url.path, expectedURL.path])
        }
    }

    func testMissingCorruptAndInconsistentFilesAreClearErrors() throws {
        let directory = try temporaryDirectory("memorag-faiss-bad")
        defer { try? FileManager.default.removeItem(at: directory) }
        func assertUnreadable(_ url: URL, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try VectorIndex.read(from: url), file: file, line: line) { error in
                guard case .unreadableIndex(let path, let reason)? = error as? RetrievalError else {
                    return XCTFail("unexpected error \(error)", file: file, line: line)
                }
                XCTAssertEqual(path, url.path, file: file, line: line)
                XCTAssertTrue(reason.lowercased().contains(mentions), "'\(reason)' should mention '\(mentions)'", file: file, line: line)
                XCTAssertFalse(reason.contains("Error in "), "faiss's source location is stripped: \(reason)", file: file, line: line)
            }
        }
        assertUnreadable(directory.appendingPathComponent("absent.faiss"), mentions: "no such file")

        let garbage = directory.appendingPathComponent("garbage.faiss")
        try Data("this is not a faiss index at all".utf8).write(to: garbage)
        assertUnreadable(garbage, mentions: "not recognized")

        let index = try VectorIndex(dimension: 8)
        var rng = SplitMix64(seed: 4)
        try index.add(randomUnitVectors(100, dimension: 8, using: &rng))
        let good = directory.appendingPathComponent("good.faiss")
        try index.write(to: good)
        let bytes = try Data(contentsOf: good)

        let truncated = directory.appendingPathComponent("truncated.faiss")
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        assertUnreadable(truncated, mentions: "read error")

        // Index files start "IxFI" (flat) or "IwFl" (IVF), d (int32), ntotal (int64), …: a wrong ntotal parses but
        // disagrees with the data. faiss itself checks a flat index; the shim checks the IVF lists.
        var wrongCount = bytes
        XCTAssertEqual(String(decoding: bytes.prefix(4), as: UTF8.self), "IxFI")
        wrongCount[8] = 200  // ntotal 100 → 200
        let wrongCountURL = directory.appendingPathComponent("wrong-count.faiss")
        try wrongCount.write(to: wrongCountURL)
        assertUnreadable(wrongCountURL, mentions: "ntotal")

        let ivf = try VectorIndex(dimension: 8, factory: "IVF4,Flat")
        let vectors = randomUnitVectors(200, dimension: 8, using: &rng)
        try ivf.train(vectors)
        try ivf.add(Array(vectors[..<100]))
        let ivfURL = directory.appendingPathComponent("ivf.faiss")
        try ivf.write(to: ivfURL)
        var wrongIVF = try Data(contentsOf: ivfURL)
        XCTAssertEqual(String(decoding: wrongIVF.prefix(4), as: UTF8.self), "IwFl")
        XCTAssertEqual(wrongIVF[8], 100)
        wrongIVF[8] = 200
        try wrongIVF.write(to: ivfURL)
        assertUnreadable(ivfURL, mentions: "inconsistent faiss index: inverted lists hold 100 vectors, ntotal says 200")

        XCTAssertThrowsError(try index.write(to: directory.appendingPathComponent("no/such/dir/x.faiss"))) { error in
            guard case .unwritableIndex? = error as? RetrievalError else { return XCTFail("unexpected error \(error)") }
        }
    }

    /// faiss brings the system's BLAS and LAPACK (OpenBLAS), which also define `sgemm_`. libtorch calls its BLAS
    /// through the symbol table, so whichever library comes first in the process wins: it must be libtorch's own
    /// (MKL in the PyPI wheel, about twice OpenBLAS's speed here). Package.swift lists CFaiss before CLibTorch in
    /// CTorch's dependencies for this, since SwiftPM emits the link flags of later dependencies first.
    func testLibtorchKeepsItsOwnBLAS() throws {
        guard let torch = dlopen("libtorch_cpu.so", RTLD_NOW | RTLD_NOLOAD) else { throw XCTSkip("libtorch_cpu.so is not loaded by name") }
        defer { dlclose(torch) }
        // dlsym on libtorch's handle looks in libtorch_cpu first, then in its own dependencies.
        guard let own = dlsym(torch, "sgemm_"), let global = dlsym(nil, "sgemm_") else {
            throw XCTSkip("no sgemm_ in this process")
        }
        XCTAssertEqual(own, global, "sgemm_ resolves to \(Self.mapping(of: global)), not libtorch's \(Self.mapping(of: own))")
    }

    /// The file mapped at `address` (from /proc/self/maps).
    private static func mapping(of address: UnsafeMutableRawPointer) -> String {
        let value = UInt(bitPattern: address)
        guard let maps = FileHandle(forReadingAtPath: "/proc/self/maps")?.readDataToEndOfFile() else { return "?" }
        for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let bounds = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            if bounds.count == 2, bounds[0] <= value, value < bounds[1] { return fields.count > 5 ? String(fields[5]) : "anonymous" }
        }
        return "?"
    }

    /// libtorch's wheel bundles a libgomp with the system's soname, so faiss and libtorch share one OpenMP runtime;
    /// both thread pools run side by side, from several threads, and faiss's thread setting leaves libtorch's alone.
    func testFaissAndLibtorchShareOneOpenMPRuntime() throws {
        var rng = SplitMix64(seed: 5)
        let data = randomUnitVectors(2000, dimension: 64, using: &rng)
        let queries = randomUnitVectors(64, dimension: 64, using: &rng)
        let index = try VectorIndex(dimension: 64, factory: "IVF16,Flat")
        try index.train(data)
        try index.add(data)
        try index.setParameter("nprobe", 16)  // all lists: exact
        let expected = try index.search(queries, k: 5).map { $0.map(\.id) }

        // procfs files report size 0, so read to the end rather than by size.
        let maps = String(decoding: try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile(), as: UTF8.self)
        let gomps = Set(maps.split(separator: "\n").compactMap { line -> String? in
            guard let path = line.split(separator: " ", omittingEmptySubsequences: true).last, path.contains("libgomp") else { return nil }
            return String(path)
        })
        XCTAssertEqual(gomps.count, 1, "one OpenMP runtime in the process: \(gomps)")

        let torchThreads = LibTorch.numThreads
        try VectorIndex.setNumThreads(1)
        XCTAssertEqual(VectorIndex.numThreads, 1)
        XCTAssertEqual(try index.search(queries, k: 5).map { $0.map(\.id) }, expected)
        XCTAssertEqual(LibTorch.numThreads, torchThreads, "faiss's thread count does not leak into libtorch's")
        try VectorIndex.setNumThreads(0)
        XCTAssertEqual(VectorIndex.numThreads, torchThreads)

        let values: [Float] = (0..<(256 * 256)).map { Float($0 % 17) / 17 - 0.5 }
        let square = try Tensor(values, shape: [256, 256])
        let reference = try square.matmul(square).toArray(Float.self)
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            do {
                for _ in 0..<10 {
                    if worker % 2 == 0 {
                        if try index.search(queries, k: 5).map({ $0.map(\.id) }) != expected { failures.add("faiss results changed") }
                    } else if try Tensor(values, shape: [256, 256]).matmul(Tensor(values, shape: [256, 256])).toArray(Float.self) != reference {
                        failures.add("matmul results changed")
                    }
                }
            } catch { failures.add("\(error)") }
        }
        XCTAssertEqual(failures.messages, [])
    }
}

/// Collects failures from concurrent workers.
private final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ message: String) { lock.lock(); list.append(message); lock.unlock() }
    var messages: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
