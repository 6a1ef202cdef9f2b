import Tensors

/// A source of uniform 32-bit words for the samplers.
public protocol UniformWords {
    mutating func nextUInt32() -> UInt32
}

extension RandomStream: UniformWords {}

/// xoshiro256++ (Blackman & Vigna 2019), seeded from a counter-based `RandomStream`: the samplers' bulk
/// generator. Philox keys every stream by (seed, epoch, step, rank, part), so a step's draws stay a
/// pure function of that key; within one part, Λ's millions of Gamma draws then cost a few
/// instructions per word instead of a ten-round Philox block per four words (Dense MultiMix draws
/// r·b·n ≈ 8 million Gammas per step for ResNet-20 at n = 1000).
///
///     output = rotl(s₀ + s₃, 23) + s₀;  t = s₁ << 17;  s₂ ^= s₀; s₃ ^= s₁; s₁ ^= s₂; s₀ ^= s₃; s₂ ^= t; s₃ = rotl(s₃, 45)
public struct MixingGenerator: UniformWords {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose 256-bit state is the next four 64-bit draws of `stream`.
    public init(seededBy stream: inout RandomStream) {
        s0 = stream.next()
        s1 = stream.next()
        s2 = stream.next()
        s3 = stream.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 }  // the one state xoshiro cannot leave
    }

    @inline(__always)
    public mutating func next64() -> UInt64 {
        let result = ((s0 &+ s3) << 23 | (s0 &+ s3) >> 41) &+ s0
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// The upper 32 bits of the next output (xoshiro's strongest bits).
    @inline(__always)
    public mutating func nextUInt32() -> UInt32 {
        UInt32(truncatingIfNeeded: next64() >> 32)
    }

    /// Uniform integer in 0..<bound, unbiased (Lemire's multiply-high with rejection).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound \(bound) must be positive")
        let range = UInt64(bound)
        var product = next64().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold { product = next64().multipliedFullWidth(by: range) }
        }
        return Int(product.high)
    }
}
