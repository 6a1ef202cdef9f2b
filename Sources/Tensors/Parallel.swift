import Dispatch

/// The engine's own loops (BatchNorm, ReLU, pooling, the optimizer) split their rows over
/// `threadCount` threads; BLAS and the convolution library have their own settings.
public enum Parallel {
    /// Threads used by `forEachChunk`; set once at start-up from the `--threads` flag or config.
    nonisolated(unsafe) public static var threadCount = 1

    /// Calls `body(chunk, range)` on disjoint ranges covering `0..<count`, concurrently when
    /// `threadCount > 1` and the work is large enough (`count ≥ 2·minimumChunk`). Chunk numbers are
    /// `0..<chunkCount(count, minimumChunk:)`, so callers can give each chunk its own accumulators.
    /// Returns when all chunks are done.
    public static func forEachChunk(_ count: Int, minimumChunk: Int = 1 << 12,
                                    _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(count, minimumChunk: minimumChunk)
        if chunks <= 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            body(chunk, (chunk * count / chunks)..<((chunk + 1) * count / chunks))
        }
    }

    /// How many chunks `forEachChunk` uses for `count` items.
    public static func chunkCount(_ count: Int, minimumChunk: Int = 1 << 12) -> Int {
        Swift.max(1, Swift.min(threadCount, count / Swift.max(minimumChunk, 1)))
    }
}
