#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Seeded random numbers for parameter initialisation only (SplitMix64 + Box–Muller): the same
/// seed gives the same initial weights on every rank, with no communication.
public struct ParameterInitializer {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits (SplitMix64).
    mutating func nextBits() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// u ~ U(0, 1), never 0.
    mutating func uniform() -> Double { (Double(nextBits() >> 11) + 0.5) / 9_007_199_254_740_992 }

    /// Fills `count` values with U(−bound, bound).
    public mutating func fillUniform(_ p: UnsafeMutablePointer<Float>, count: Int, bound: Double) {
        for i in 0..<count { p[i] = Float((2 * uniform() - 1) * bound) }
    }

    /// Fills `count` values with N(0, std²) (Box–Muller).
    public mutating func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, std: Double) {
        for i in 0..<count {
            let r = (-2 * log(uniform())).squareRoot()
            p[i] = Float(std * r * cos(2 * Double.pi * uniform()))
        }
    }
}
