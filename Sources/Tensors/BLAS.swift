import COpenBLAS

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable {
    /// Use the matrix as stored.
    case none
    /// Use its transpose.
    case transposed

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// The project's one door to BLAS. Everything shaped like a matrix product (Linear layers, im2col
/// convolutions, MultiMix's Z̃ = ZΛ) goes through `sgemm`; nothing else calls `cblas_*` directly.
/// Large products are split over the OpenMP pool (`ComputeThreads`), OpenBLAS running each part.
///
/// All matrices are **row-major**: element (i, j) of a matrix with leading dimension `ld` lives at
/// `i * ld + j`, and `ld` is at least the stored row length.
public enum BLAS {

    /// C ← α·op(A)·op(B) + β·C, single precision, row-major.
    ///
    /// - Parameters:
    ///   - m, n, k: op(A) is m×k, op(B) is k×n, C is m×n.
    ///   - a: A, stored m×k (`transA == .none`) or k×m (`.transposed`), leading dimension `lda`.
    ///   - b: B, stored k×n or n×k, leading dimension `ldb`.
    ///   - c: C, m×n, leading dimension `ldc`. With β = 0, C's old contents are ignored (NaNs too).
    public static func sgemm(_ transA: Transpose = .none, _ transB: Transpose = .none,
                             m: Int, n: Int, k: Int,
                             alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension m=\(m) n=\(n) k=\(k)")
        precondition(lda >= max(1, transA == .none ? k : m), "sgemm: lda \(lda) is shorter than A's rows")
        precondition(ldb >= max(1, transB == .none ? n : k), "sgemm: ldb \(ldb) is shorter than B's rows")
        precondition(ldc >= max(1, n), "sgemm: ldc \(ldc) is shorter than C's rows")
        if m == 0 || n == 0 { return }
        keepOpenBLASOnCallingThread()
        // Split the longer side of C over the thread pool, each part a single-threaded OpenBLAS call:
        // rows i of C need rows i of op(A); columns j need columns j of op(B).
        if m >= n {
            Parallel.forEachChunk(m, minimumChunk: max(1, minimumChunkWork / (n * max(k, 1)))) { _, rows in
                cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(rows.count), Int32(n), Int32(k),
                            alpha, a + rows.lowerBound * (transA == .none ? lda : 1), Int32(lda), b, Int32(ldb),
                            beta, c + rows.lowerBound * ldc, Int32(ldc))
            }
        } else {
            Parallel.forEachChunk(n, minimumChunk: max(1, minimumChunkWork / (m * max(k, 1)))) { _, columns in
                cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(columns.count), Int32(k),
                            alpha, a, Int32(lda), b + columns.lowerBound * (transB == .none ? 1 : ldb), Int32(ldb),
                            beta, c + columns.lowerBound, Int32(ldc))
            }
        }
    }

    /// Multiply-adds below which a part of a product is not worth a thread of its own.
    public static let minimumChunkWork = 1 << 20

    /// OpenBLAS computes each call on the calling thread: its own pthreads would spin beside the
    /// OpenMP pool that `sgemm` splits products over (see `ComputeThreads`). Set once per process.
    public static func keepOpenBLASOnCallingThread() { _ = openBLASOnCallingThread }
    private static let openBLASOnCallingThread: Void = openblas_set_num_threads(1)

    /// The naive reference twin of `sgemm`: three plain loops, accumulated in Double. Tests check the
    /// fast path against it; nothing else should call it.
    public static func sgemmReference(_ transA: Transpose = .none, _ transB: Transpose = .none,
                                      m: Int, n: Int, k: Int,
                                      alpha: Float = 1,
                                      a: UnsafePointer<Float>, lda: Int,
                                      b: UnsafePointer<Float>, ldb: Int,
                                      beta: Float = 0,
                                      c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let aip = transA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bpj = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    sum += Double(aip) * Double(bpj)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * sum + old)
            }
        }
    }

    /// The threads OpenBLAS itself uses for each call: 1 once `sgemm` or `ComputeThreads.set` ran.
    public static var openBLASThreadCount: Int { Int(openblas_get_num_threads()) }
}
