import Tensors
import XCTest

/// The BLAS facade against its naive twin: every transpose combination, non-packed leading dimensions,
/// α and β, and the degenerate sizes.
final class BLASTests: XCTestCase {
    /// A deterministic pseudo-random fill in [-1, 1) (no RNG dependency for the facade's own test).
    private func filled(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state >> 40) / Float(1 << 23) - 1
        }
    }

    func testSgemmMatchesNaiveLoopsForEveryTransposeAndPaddedLeadingDimensions() {
        let shapes = [(m: 1, n: 1, k: 1), (m: 7, n: 5, k: 3), (m: 16, n: 33, k: 17), (m: 64, n: 10, k: 129)]
        for (m, n, k) in shapes {
            for transA in [Transpose.none, .transposed] {
                for transB in [Transpose.none, .transposed] {
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 2), (-1.25, 1)] {
                        // Leading dimensions 3 wider than the stored rows: the padding must be skipped.
                        let aRows = transA == .none ? m : k, aCols = transA == .none ? k : m
                        let bRows = transB == .none ? k : n, bCols = transB == .none ? n : k
                        let lda = aCols + 3, ldb = bCols + 3, ldc = n + 3
                        let a = filled(aRows * lda, seed: 1), b = filled(bRows * ldb, seed: 2)
                        var fast = filled(m * ldc, seed: 3)
                        var reference = fast
                        BLAS.sgemm(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                                   beta: beta, c: &fast, ldc: ldc)
                        BLAS.sgemmReference(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                            b: b, ldb: ldb, beta: beta, c: &reference, ldc: ldc)
                        // float32 sums of k products of values in [-1, 1): rounding grows like k·ε.
                        let tolerance = Float(k) * 4 * Float.ulpOfOne * 4
                        for i in 0..<m {
                            for j in 0..<ldc {
                                let index = i * ldc + j
                                if j >= n {
                                    XCTAssertEqual(fast[index], reference[index], "padding of C was written")
                                } else {
                                    XCTAssertEqual(fast[index], reference[index], accuracy: tolerance,
                                                   "C[\(i),\(j)] m=\(m) n=\(n) k=\(k) \(transA) \(transB) α=\(alpha) β=\(beta)")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func testBetaZeroIgnoresNaNsInC() {
        let a: [Float] = [1, 2], b: [Float] = [3, 4]
        var c: [Float] = [.nan]
        BLAS.sgemm(m: 1, n: 1, k: 2, a: a, lda: 2, b: b, ldb: 1, c: &c, ldc: 1)
        XCTAssertEqual(c, [11])
    }

    func testEmptyProductLeavesCUntouched() {
        var c: [Float] = [5]
        BLAS.sgemm(m: 0, n: 1, k: 3, a: [0, 0, 0], lda: 3, b: [0, 0, 0], ldb: 1, c: &c, ldc: 1)
        XCTAssertEqual(c, [5])
    }

    func testThreadCountCanBeSet() {
        let before = BLAS.threadCount
        BLAS.threadCount = 1
        XCTAssertEqual(BLAS.threadCount, 1)
        BLAS.threadCount = before
    }
}
