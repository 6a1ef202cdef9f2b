import Layers
import Tensors
import XCTest

/// Checks `analytic` against central differences of `loss` for every element of `values`
/// (or the first `limit`), with step `h`, failing when the relative error exceeds `tolerance`.
func checkGradient(_ what: String, loss: () -> Double, values: UnsafeMutablePointer<Float>, count: Int,
                   analytic: [Float], step h: Float, tolerance: Double,
                   file: StaticString = #filePath, line: UInt = #line) {
    let indices = Array(0..<count)
    let numeric = FiniteDifferences.gradient(of: loss, values: values, indices: indices, step: h)
    let error = FiniteDifferences.relativeError(numeric: numeric, analytic: analytic)
    XCTAssertLessThanOrEqual(error, tolerance, "\(what): relative error \(error)", file: file, line: line)
}

/// The arena gradient of a slice, copied.
func gradientValues(_ arena: ParameterArena, _ slice: ParameterArena.Slice) -> [Float] {
    Array(UnsafeBufferPointer(start: arena.gradient(slice), count: arena.entry(slice).count))
}

func assertClose(_ actual: [Float], _ expected: [Double], tolerance: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): count", file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated() where abs(Double(a) - e) > tolerance {
        XCTFail("\(what)[\(i)]: \(a) vs \(e)", file: file, line: line)
        return
    }
}
