import COpenBLAS
import COpenMP

/// The process's one thread setting. oneDNN's primitives, the engine's own loops (`Parallel`) and
/// the big matrix products (`BLAS.sgemm`) all run on GNU OpenMP's thread pool, sized here; OpenBLAS
/// itself stays on the calling thread, so no second pool exists to spin beside the first.
///
/// Why one pool: an idle OpenMP thread spins before it sleeps (unless `OMP_WAIT_POLICY=passive` was
/// in the environment when the process started). When the engine's loops ran on Dispatch threads and
/// OpenBLAS on its own pthreads, the spinning OpenMP threads took the cores those needed, and a
/// training step ran 2-3x slower unless the user set that variable. On one pool, the thread that
/// spins is the thread that runs the next loop.
public enum ComputeThreads {
    /// The most threads a process may ask for (`training.threads`, `--threads`): more than any node's
    /// cores, far fewer than make libgomp fail (100000 crashes it, 10000 stalls the machine).
    public static let maximum = 256

    /// Makes OpenMP regions started from the calling thread use `count` threads: call it on the thread
    /// that runs the model (start-up). `OMP_NUM_THREADS` sets the default it replaces.
    public static func set(_ count: Int) {
        precondition((1...maximum).contains(count), "ComputeThreads.set: count must be in [1, \(maximum)] (got \(count))")
        omp_set_num_threads(Int32(count))
        BLAS.keepOpenBLASOnCallingThread()
    }

    /// The threads the calling thread's next parallel region uses.
    public static var count: Int { Int(omp_get_max_threads()) }
}

/// The engine's own parallel loops (BatchNorm, the optimizer, Dense MultiMix's positions, im2col,
/// split matrix products) on the OpenMP pool that `ComputeThreads` sizes.
public enum Parallel {
    /// Calls `body(chunk, range)` on disjoint ranges covering `0..<count`, concurrently when the pool
    /// has more than one thread and the work is large enough (`count ≥ 2·minimumChunk`). Chunk numbers
    /// are `0..<chunkCount(count, minimumChunk:)`, so callers can give each chunk its own accumulators.
    /// Returns when all chunks are done. Called from inside another parallel region, it runs its chunks
    /// on the calling thread (OpenMP does not nest by default).
    public static func forEachChunk(_ count: Int, minimumChunk: Int = 1 << 12,
                                    _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(count, minimumChunk: minimumChunk)
        if chunks <= 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var region = ParallelRegion(count: count, chunks: chunks, body: body)
            withUnsafeMutablePointer(to: &region) { region in
                GOMP_parallel({ ParallelRegion.runOnThisThread($0!) }, region, UInt32(chunks), 0)
            }
        }
    }

    /// How many chunks `forEachChunk` uses for `count` items.
    public static func chunkCount(_ count: Int, minimumChunk: Int = 1 << 12) -> Int {
        Swift.max(1, Swift.min(ComputeThreads.count, count / Swift.max(minimumChunk, 1)))
    }
}

/// What one `forEachChunk` call hands to every thread of its OpenMP team.
private struct ParallelRegion {
    let count: Int
    let chunks: Int
    let body: (Int, Range<Int>) -> Void

    /// Thread t of a team of T runs chunks t, t + T, ...: every chunk once, whatever team OpenMP gave.
    static func runOnThisThread(_ raw: UnsafeMutableRawPointer) {
        let region = raw.assumingMemoryBound(to: ParallelRegion.self)
        let (count, chunks) = (region.pointee.count, region.pointee.chunks)
        let team = Int(omp_get_num_threads())
        var chunk = Int(omp_get_thread_num())
        while chunk < chunks {
            region.pointee.body(chunk, (chunk * count / chunks)..<((chunk + 1) * count / chunks))
            chunk += team
        }
    }
}
