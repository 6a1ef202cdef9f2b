#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Tensors

/// Gamma(α, 1) draws for one α, set up once (a step draws millions with the same α):
///
///     α ≥ 1:  Marsaglia–Tsang: d = α − 1/3, c = 1/√(9d); x ~ N(0, 1) (ziggurat), v = (1 + c·x)³;
///             accept d·v when U < 1 − 0.0331·x⁴ (the squeeze, ~98%) or log U < x²/2 + d − d·v + d·log v
///     α < 1:  the boost Gamma(α) = Gamma(α + 1)·U^(1/α)
///
/// For α < 1/4, U^(1/α) can underflow to 0 in Double (α = 0.01: U < 10⁻³ already gives 10⁻³⁰⁰), so
/// `nextLog` works with logarithms and `fillDirichlet` normalises them as a softmax: never 0/0.
public struct GammaSampler: Sendable {
    /// α.
    public let shape: Double
    /// d and c of Marsaglia–Tsang for max(α, α + 1 when boosted).
    let d: Double
    let c: Double
    /// 1/α when α < 1 (the boost), else 0.
    let boostExponent: Double
    /// The normal sampler's tables (fetched once, not per draw).
    let ziggurat = Ziggurat.tables

    /// A sampler for Gamma(α).  (Precondition: α > 0.)
    public init(shape alpha: Double) {
        precondition(alpha > 0 && alpha.isFinite, "Gamma shape must be positive and finite (got \(alpha))")
        shape = alpha
        let base = alpha < 1 ? alpha + 1 : alpha
        d = base - 1.0 / 3.0
        c = 1 / (9 * d).squareRoot()
        boostExponent = alpha < 1 ? 1 / alpha : 0
    }

    /// Whether draws must stay in logarithms (α < 1/4) to avoid underflow.
    public var needsLogarithms: Bool { shape < 0.25 }

    /// G ~ Gamma(α).
    @inline(__always)
    public func next<Source: UniformWords>(_ random: inout Source) -> Double {
        let g = marsagliaTsang(&random)
        guard boostExponent != 0 else { return g }
        let u = random.nextOpenUnit32()
        // U^(1/α): α = 1/2 (the lower end of MultiMix's default range) needs no pow; otherwise a
        // single-precision pow is plenty (the weights are stored as Float) at half the cost.
        return g * (boostExponent == 2 ? u * u : Double(powf(Float(u), Float(boostExponent))))
    }

    /// log G, G ~ Gamma(α), without underflow for any α.
    public func nextLog<Source: UniformWords>(_ random: inout Source) -> Double {
        let logG = log(marsagliaTsang(&random))
        return boostExponent == 0 ? logG : logG + log(random.nextOpenUnit32()) * boostExponent
    }

    @inline(__always)
    func marsagliaTsang<Source: UniformWords>(_ random: inout Source) -> Double {
        while true {
            let x = random.nextZigguratNormal(ziggurat)
            var v = 1 + c * x
            if v <= 0 { continue }
            v = v * v * v
            let u = random.nextOpenUnit32()
            let x2 = x * x
            if u < 1 - 0.0331 * x2 * x2 { return d * v }
            if log(u) < 0.5 * x2 + d * (1 - v + log(v)) { return d * v }
        }
    }
}

/// The mixing weights' distributions, drawn from any source of words (the counter-based
/// `RandomStream`, or the bulk `MixingGenerator` seeded from it):
///
///     Gamma(α)        ``GammaSampler``
///     Beta(a, b)      X / (X + Y),              X ~ Gamma(a), Y ~ Gamma(b)
///     Dirichlet(α·1)  (G₁, …, G_m) / Σ Gᵢ,      Gᵢ ~ Gamma(α)
extension UniformWords {

    /// G ~ Gamma(shape, 1).  (Precondition: shape > 0.)
    public mutating func nextGamma(shape alpha: Double) -> Double {
        GammaSampler(shape: alpha).next(&self)
    }

    /// log G for G ~ Gamma(shape, 1), without underflow.  (Precondition: shape > 0.)
    public mutating func nextLogGamma(shape alpha: Double) -> Double {
        GammaSampler(shape: alpha).nextLog(&self)
    }

    /// X ~ Beta(a, b), as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (in logs: never 0/0).
    public mutating func nextBeta(_ a: Double, _ b: Double) -> Double {
        let logX = nextLogGamma(shape: a), logY = nextLogGamma(shape: b)
        // X / (X + Y) = 1 / (1 + exp(log Y − log X))
        return 1 / (1 + exp(logY - logX))
    }

    /// Writes a draw of Dirichlet(α, …, α) over `count` components to `weights[0], weights[stride], …`.
    /// The components are non-negative and sum to 1 (within Float rounding); never all zero.
    /// `scratch` must hold `count` Doubles.
    public mutating func fillDirichlet(concentration alpha: Double, count: Int,
                                       into weights: UnsafeMutablePointer<Float>, stride: Int = 1,
                                       scratch: UnsafeMutablePointer<Double>) {
        fillDirichlet(GammaSampler(shape: alpha), count: count, into: weights, stride: stride, scratch: scratch)
    }

    /// `fillDirichlet` with a prepared sampler (the hot path: one sampler per step).
    public mutating func fillDirichlet(_ gamma: GammaSampler, count: Int,
                                       into weights: UnsafeMutablePointer<Float>, stride: Int = 1,
                                       scratch: UnsafeMutablePointer<Double>) {
        precondition(count > 0, "Dirichlet needs at least one component")
        var total = 0.0
        if !gamma.needsLogarithms {
            // λᵢ = Gᵢ / Σ G     (the source copied into a local: its state stays in registers)
            var source = self
            for i in 0..<count {
                let g = gamma.next(&source)
                scratch[i] = g
                total += g
            }
            self = source
        } else {
            // λᵢ = exp(log Gᵢ − M) / Σ exp(log G − M),  M = max log G   (a softmax of the logs)
            var largest = -Double.infinity
            for i in 0..<count {
                let logG = gamma.nextLog(&self)
                scratch[i] = logG
                largest = max(largest, logG)
            }
            for i in 0..<count {
                let e = exp(scratch[i] - largest)
                scratch[i] = e
                total += e
            }
        }
        let scale = 1 / total
        for i in 0..<count { weights[i * stride] = Float(scratch[i] * scale) }
    }
}
