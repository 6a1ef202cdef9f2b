import SwiftMPI
#if canImport(Glibc)
import Glibc
#endif

/// Averages gradients over all ranks, bucket by bucket, while backward is still running.
///
/// The model calls `gradientsReady(from:)` as backward completes its layers (last layer first);
/// every bucket lying wholly in the completed tail is posted at once with an out-of-place
/// `iallreduce` (in place would block in the post, see REFERENCES.md). Open MPI moves a posted
/// reduction only while the rank is inside MPI, so each call also `test`s the outstanding ones.
/// `finish()` posts what is left, waits, and writes the average ḡ = (1/N) Σ_r g_r back into the
/// gradient buffer, so the optimizer takes the same step on every rank. `finish(summing:)` also sums
/// a few scalars of the step over the ranks (the trainer's loss and flags) in an all-reduce posted
/// beside the last bucket: it shares the last bucket's round trip instead of costing one of its own
/// after it (on a link with latency L, one L less per step).
///
/// Exposed communication time is the time `finish()` spends waiting: the part of the all-reduce
/// that backward did not hide.
public final class GradientSynchroniser {
    public let communicator: Communicator
    public let buckets: GradientBuckets
    private let gradients: UnsafeMutablePointer<Float>
    private let count: Int
    private let received: UnsafeMutableBufferPointer<Float>
    /// `finish(summing:)`'s scalars, sent and summed (grown when a call passes more).
    private var scalarBuffer = UnsafeMutableBufferPointer<Double>.allocate(capacity: 8)
    private var requests: [Request?]
    private var nextBucket = 0
    private var step = 0
    private var announced = false
    private let watchdog: Watchdog?

    /// Seconds `finish()` waited at the last step (exposed communication).
    public private(set) var lastExposedSeconds = 0.0
    /// Seconds spent posting and testing during backward at the last step.
    public private(set) var lastOverlappedSeconds = 0.0

    /// - Parameters:
    ///   - gradients: the flat gradient buffer (`count` Floats), synchronised in place.
    ///   - bucketBytes: the bucket size (default 4 MB).
    ///   - watchdog: the run's watchdog, told of each step's arrival and asked while `finish()` waits
    ///     (nil: none).
    public init(communicator: Communicator, gradients: UnsafeMutablePointer<Float>, count: Int,
                bucketBytes: Int = 4 << 20, watchdog: Watchdog? = nil) {
        self.communicator = communicator
        self.gradients = gradients
        self.count = count
        buckets = GradientBuckets(count: count, bucketElements: max(1, bucketBytes / MemoryLayout<Float>.stride))
        received = .allocate(capacity: max(count, 1))
        requests = [Request?](repeating: nil, count: buckets.ranges.count)
        self.watchdog = watchdog
    }

    deinit {
        received.deallocate()
        scalarBuffer.deallocate()
    }

    /// Starts a step: no bucket is posted yet.
    public func beginStep(_ step: Int) {
        self.step = step
        nextBucket = 0
        announced = false
        lastOverlappedSeconds = 0
        for i in requests.indices { requests[i] = nil }
    }

    /// Every gradient at index ≥ `offset` is final for this step: post the buckets that lie wholly
    /// there, and let MPI progress the ones in flight.
    public func gradientsReady(from offset: Int) throws {
        guard communicator.size > 1 else { return }
        let start = MPI.wallTime
        if !announced {
            try watchdog?.arrive(atStep: step)
            announced = true
        }
        while nextBucket < buckets.ranges.count, buckets.ranges[nextBucket].lowerBound >= offset {
            try post(nextBucket)
            nextBucket += 1
        }
        for request in requests where request != nil { _ = try request!.test() }
        lastOverlappedSeconds += MPI.wallTime - start
    }

    private func post(_ bucket: Int) throws {
        let range = buckets.ranges[bucket]
        let send = UnsafeBufferPointer(start: gradients + range.lowerBound, count: range.count)
        let receive = UnsafeMutableBufferPointer(rebasing: received[range])
        requests[bucket] = try communicator.iallreduce(send, into: receive, op: .sum)
    }

    /// Posts the remaining buckets, waits for all, and leaves the average in the gradient buffer.
    /// Returns the exposed communication time in seconds.
    @discardableResult
    public func finish() throws -> Double {
        var none: [Double] = []
        return try finish(summing: &none)
    }

    /// `finish()`, and `scalars` replaced by their sum over the ranks (all-reduced beside the last
    /// bucket; every rank passes as many).
    @discardableResult
    public func finish(summing scalars: inout [Double]) throws -> Double {
        guard communicator.size > 1 else {
            lastExposedSeconds = 0
            return 0
        }
        let start = MPI.wallTime
        try gradientsReady(from: 0)
        // The scalars travel in buffers of the synchroniser's own (sent, then summed), which outlive
        // the request even when a wait below throws.
        if scalarBuffer.count < 2 * scalars.count {
            scalarBuffer.deallocate()
            scalarBuffer = .allocate(capacity: 2 * scalars.count)
        }
        let scalarsSent = UnsafeMutableBufferPointer(rebasing: scalarBuffer[0..<scalars.count])
        let scalarsSummed = UnsafeMutableBufferPointer(rebasing: scalarBuffer[scalars.count..<2 * scalars.count])
        _ = scalarsSent.initialize(from: scalars)
        let scalarsRequest = scalars.isEmpty ? nil
            : try communicator.iallreduce(UnsafeBufferPointer(scalarsSent), into: scalarsSummed, op: .sum)
        // Wait by testing, so that a stall can be reported while waiting.
        for request in requests + [scalarsRequest] {
            guard let request else { continue }
            while try !request.test() {
                try watchdog?.check(waited: MPI.wallTime - start)
                usleep(20)
            }
        }
        // ḡ = (1/N) Σ_r g_r
        let scale = 1 / Float(communicator.size)
        for i in 0..<count { gradients[i] = received[i] * scale }
        for i in scalars.indices { scalars[i] = scalarsSummed[i] }
        lastExposedSeconds = MPI.wallTime - start
        return lastExposedSeconds
    }
}
