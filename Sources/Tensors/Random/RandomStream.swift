import Foundation

/// A reproducible stream of random numbers: Philox4x32-10 keyed by (seed, epoch, step, rank, purpose).
///
/// The stream is a value: copying it copies its position, and the same key always yields the same
/// numbers, whichever process, thread or order computes them. Layout of the Philox input:
///
///     key      = (seed low 32 bits, seed high 32 bits)
///     counter  = (block index, step, epoch, purpose << 16 | rank)
///
/// so each (seed, epoch, step, rank, purpose) names its own stream of 2³² blocks (2³⁴ 32-bit words),
/// and blocks can also be read directly with ``block(at:)`` (one block per image, for instance).
///
/// Draws: ``nextUInt32()``, ``next()`` (64 bits; the stream is a `RandomNumberGenerator`, so
/// `Array.shuffle(using:)` works too), ``nextFloat()`` and ``nextDouble()`` in [0, 1),
/// ``nextInt(below:)`` and ``nextInt(in:)`` without modulo bias, ``nextNormal()``, ``shuffle(_:)``
/// and ``permutation(count:)``.
public struct RandomStream: RandomNumberGenerator, Sendable {
    /// Philox key: the seed.
    public let key: SIMD2<UInt32>
    /// Counter words 1...3: step, epoch, purpose and rank. Word 0 is the block index.
    public let streamCounter: SIMD3<UInt32>
    /// Index of the next block to generate.
    @usableFromInline var blockIndex: UInt32 = 0
    /// Words of the current block not yet handed out.
    @usableFromInline var buffer: SIMD4<UInt32> = .zero
    /// How many words of `buffer` were used (4: none left).
    @usableFromInline var bufferUsed: Int = 4

    /// The stream for `purpose` at (seed, epoch, step, rank).
    /// - Precondition: epoch, step ≥ 0 and < 2³²; 0 ≤ rank < 65536.
    public init(seed: UInt64, epoch: Int = 0, step: Int = 0, rank: Int = 0, purpose: RandomPurpose) {
        precondition(epoch >= 0 && epoch <= Int(UInt32.max), "epoch \(epoch) out of 0...\(UInt32.max)")
        precondition(step >= 0 && step <= Int(UInt32.max), "step \(step) out of 0...\(UInt32.max)")
        precondition(rank >= 0 && rank <= Int(UInt16.max), "rank \(rank) out of 0...\(UInt16.max)")
        key = SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        streamCounter = SIMD3(UInt32(step), UInt32(epoch), UInt32(purpose.rawValue) << 16 | UInt32(rank))
    }

    /// Block `index` of this stream (four words), independent of the stream's position.
    @inlinable
    public func block(at index: UInt32) -> SIMD4<UInt32> {
        Philox4x32.block(counter: SIMD4(index, streamCounter.x, streamCounter.y, streamCounter.z), key: key)
    }

    /// The next 32 random bits.
    @inlinable
    public mutating func nextUInt32() -> UInt32 {
        if bufferUsed == 4 {
            precondition(blockIndex != UInt32.max, "random stream exhausted (2^34 words)")
            buffer = block(at: blockIndex)
            blockIndex += 1
            bufferUsed = 0
        }
        defer { bufferUsed += 1 }
        return buffer[bufferUsed]
    }

    /// The next 64 random bits (two words, low word first).
    @inlinable
    public mutating func next() -> UInt64 {
        let low = UInt64(nextUInt32())
        return UInt64(nextUInt32()) << 32 | low
    }

    /// Uniform in [0, 1) with 24 random bits (every Float multiple of 2⁻²⁴).
    @inlinable
    public mutating func nextFloat() -> Float {
        Float(nextUInt32() >> 8) * 0x1p-24
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Uniform integer in 0..<bound, unbiased (Lemire's multiply-and-reject on 32-bit words).
    /// - Precondition: 0 < bound ≤ 2³².
    @inlinable
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0 && bound <= 1 << 32, "bound \(bound) out of 1...2^32")
        let range = UInt64(bound)
        var product = UInt64(nextUInt32()) &* range
        if UInt32(truncatingIfNeeded: product) < UInt32(truncatingIfNeeded: range) {
            // Reject the low-word values that would make some results more likely: 2³² mod range.
            let threshold = UInt32(truncatingIfNeeded: (1 << 32) % range)
            while UInt32(truncatingIfNeeded: product) < threshold {
                product = UInt64(nextUInt32()) &* range
            }
        }
        return Int(product >> 32)
    }

    /// Uniform integer in `range`, unbiased.
    @inlinable
    public mutating func nextInt(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + nextInt(below: range.upperBound - range.lowerBound + 1)
    }

    /// A standard normal draw (mean 0, variance 1), by Box–Muller on two 53-bit uniforms.
    /// One pair of uniforms per call: simple and position-stable, at the cost of discarding the sine.
    @inlinable
    public mutating func nextNormal() -> Double {
        let u1 = 1 - nextDouble()  // (0, 1]: log stays finite
        let u2 = nextDouble()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// A normal draw with `mean` and `standardDeviation`, as Float.
    @inlinable
    public mutating func nextNormal(mean: Float, standardDeviation: Float) -> Float {
        mean + standardDeviation * Float(nextNormal())
    }

    /// Shuffles `elements` in place (Fisher–Yates, from the back).
    @inlinable
    public mutating func shuffle<C: MutableCollection & RandomAccessCollection>(_ elements: inout C)
    where C.Index == Int {
        var last = elements.count - 1
        while last > 0 {
            let other = nextInt(below: last + 1)
            elements.swapAt(elements.startIndex + last, elements.startIndex + other)
            last -= 1
        }
    }

    /// A uniformly random permutation of 0..<count.
    public mutating func permutation(count: Int) -> [Int] {
        var order = Array(0..<count)
        shuffle(&order)
        return order
    }
}
