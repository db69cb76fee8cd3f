import Foundation
import Torch
import XCTest

/// Asserts that two tensors have the same shape and agree elementwise within `atol + rtol·|expected|`.
public func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Double = 1e-5, rtol: Double = 1e-5,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "shape \(message())", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    // A tensor that cannot be read is a failure, never a silent pass.
    let a: [Double], e: [Double]
    do {
        (a, e) = (try actual.toArray(Double.self), try expected.toArray(Double.self))
    } catch {
        return XCTFail("cannot read the tensors to compare: \(error) \(message())", file: file, line: line)
    }
    var worst = 0.0, worstIndex = -1
    for i in a.indices {
        let excess = Swift.abs(a[i] - e[i]) - (atol + rtol * Swift.abs(e[i]))
        if excess > worst || a[i].isNaN != e[i].isNaN { worst = Swift.max(worst, excess); worstIndex = i }
    }
    if worstIndex >= 0 {
        XCTFail("element \(worstIndex): \(a[worstIndex]) vs expected \(e[worstIndex]) (atol \(atol), rtol \(rtol)) \(message())",
                file: file, line: line)
    }
}

/// Asserts elementwise closeness to plain Swift values.
public func assertClose(_ actual: Tensor, _ expected: [Double], shape: [Int]? = nil, atol: Double = 1e-6,
                        file: StaticString = #filePath, line: UInt = #line) {
    guard let e = try? Tensor(expected, shape: shape ?? actual.shape) else {
        return XCTFail("bad expected values", file: file, line: line)
    }
    assertClose(actual, e, atol: atol, rtol: 0, file: file, line: line)
}

/// The resident set size of this process in bytes (Linux /proc/self/statm).
public func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

/// A fresh temporary directory, removed by the caller (or the OS).
public func temporaryDirectory(_ name: String = "memorag-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
