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

    /// Products large enough to split run as parts on the pool (rows of C when m ≥ n, columns
    /// otherwise), each part a single-threaded OpenBLAS call on offset operands: every transpose
    /// combination, both split directions, with leading dimensions longer than the rows, against the
    /// Double reference.
    func testSplitProductsMatchTheReference() {
        let saved = ComputeThreads.count
        defer { ComputeThreads.set(saved) }
        ComputeThreads.set(3)
        var random = RandomStream(seed: 5, purpose: RandomPurpose(rawValue: 99))
        for (m, n, k) in [(700, 97, 67), (89, 700, 61)] {
            XCTAssertGreaterThan(Parallel.chunkCount(max(m, n), minimumChunk: max(1, BLAS.minimumChunkWork / (min(m, n) * k))), 1,
                                 "the shape must be large enough to be split")
            for transA in [Transpose.none, .transposed] {
                for transB in [Transpose.none, .transposed] {
                    let lda = (transA == .none ? k : m) + 3, ldb = (transB == .none ? n : k) + 2, ldc = n + 5
                    let a = (0..<((transA == .none ? m : k) * lda)).map { _ in random.nextFloat() - 0.5 }
                    let b = (0..<((transB == .none ? k : n) * ldb)).map { _ in random.nextFloat() - 0.5 }
                    let c0 = (0..<(m * ldc)).map { _ in random.nextFloat() - 0.5 }
                    var fast = c0, slow = c0
                    BLAS.sgemm(transA, transB, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b, ldb: ldb,
                               beta: 0.3, c: &fast, ldc: ldc)
                    BLAS.sgemmReference(transA, transB, m: m, n: n, k: k, alpha: 0.7, a: a, lda: lda, b: b, ldb: ldb,
                                        beta: 0.3, c: &slow, ldc: ldc)
                    let worst = zip(fast, slow).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst, 1e-4, "m \(m) n \(n) k \(k) \(transA) \(transB)")
                }
            }
        }
        XCTAssertEqual(BLAS.openBLASThreadCount, 1, "OpenBLAS must not start threads of its own beside the pool")
    }

}
