/// Philox4x32-10: the counter-based block function of Salmon et al., "Parallel random numbers: as easy
/// as 1, 2, 3" (SC 2011), as in the Random123 library.
///
/// A pure function: 128 bits of counter and 64 bits of key in, 128 random bits out. Nothing is
/// carried between calls, so any block of any stream can be computed directly, on any rank or thread,
/// in any order. Ten rounds, each:
///
///     (hi0, lo0) = M0 · c0      (hi1, lo1) = M1 · c2          (32 × 32 → 64-bit products)
///     c = (hi1 ⊕ c1 ⊕ k0,  lo1,  hi0 ⊕ c3 ⊕ k1,  lo0)
///     k = k + (W0, W1)          (Weyl key schedule, between rounds)
///
/// Known answers (Random123's `tests/kat_vectors`) are checked in `RandomTests`.
public enum Philox4x32 {
    /// Round multipliers M0, M1.
    @usableFromInline static let multiplier0: UInt32 = 0xD251_1F53
    @usableFromInline static let multiplier1: UInt32 = 0xCD9E_8D57
    /// Weyl key increments W0 (golden ratio), W1 (sqrt(3) - 1).
    @usableFromInline static let weyl0: UInt32 = 0x9E37_79B9
    @usableFromInline static let weyl1: UInt32 = 0xBB67_AE85

    /// Philox4x32 with ten rounds: four random words for `counter` under `key`.
    @inlinable
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c = counter
        var k0 = key.x, k1 = key.y
        for round in 0..<10 {
            if round > 0 { k0 &+= weyl0; k1 &+= weyl1 }
            let product0 = UInt64(multiplier0) &* UInt64(c.x)
            let product1 = UInt64(multiplier1) &* UInt64(c.z)
            let hi0 = UInt32(truncatingIfNeeded: product0 >> 32), lo0 = UInt32(truncatingIfNeeded: product0)
            let hi1 = UInt32(truncatingIfNeeded: product1 >> 32), lo1 = UInt32(truncatingIfNeeded: product1)
            c = SIMD4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0)
        }
        return c
    }
}
