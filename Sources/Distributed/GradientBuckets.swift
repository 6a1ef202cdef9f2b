/// How the gradient buffer is cut into all-reduce buckets.
///
/// The arena stores parameters in forward order, and backward completes them last-to-first, so the
/// buckets are laid out from the end of the buffer: bucket 0 is the last `bucketElements` gradients
/// (the classifier's, complete first), bucket 1 the ones before, and so on.
///
///     gradients:  [ … bucket 2 … | … bucket 1 … | … bucket 0 … ]
///                 0                                          count
public struct GradientBuckets: Sendable, Equatable {
    /// Element ranges, in posting order (bucket 0 first: the end of the buffer).
    public let ranges: [Range<Int>]

    /// Buckets of at most `bucketElements` (≥ 1) over `count` gradients.
    public init(count: Int, bucketElements: Int) {
        precondition(bucketElements >= 1, "a bucket holds at least one element")
        var ranges: [Range<Int>] = []
        var end = count
        while end > 0 {
            let start = max(0, end - bucketElements)
            ranges.append(start..<end)
            end = start
        }
        self.ranges = ranges
    }
}
