#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Tensors

/// The mixing weights' distributions, drawn from the counter-based `RandomStream`:
///
///     Gamma(α)        Marsaglia & Tsang (2000), with the boost Gamma(α) = Gamma(α+1)·U^(1/α) for α < 1
///     Beta(a, b)      X / (X + Y),              X ~ Gamma(a), Y ~ Gamma(b)
///     Dirichlet(α·1)  (G₁, …, G_m) / Σ Gᵢ,      Gᵢ ~ Gamma(α)
///
/// For α < 1 the boost's U^(1/α) underflows in floating point (α = 0.1: U < 10⁻³¹ gives 0), and a
/// Dirichlet vector of all-zero Gammas cannot be normalised. So the boosted draws are kept as
/// logarithms, and the normalisation is a softmax of the logs: exact where the plain form is, and never
/// all zero.
extension RandomStream {

    /// log G for G ~ Gamma(shape, 1).  (Precondition: shape > 0.)
    @inlinable
    public mutating func nextLogGamma(shape alpha: Double) -> Double {
        precondition(alpha > 0, "Gamma shape must be positive (got \(alpha))")
        if alpha < 1 {
            // Gamma(α) = Gamma(α + 1) · U^(1/α)   ⇒   log G = log Gamma(α + 1) + log(U) / α
            let u = 1 - nextDouble()  // (0, 1]
            return nextLogGamma(shape: alpha + 1) + log(u) / alpha
        }
        return log(marsagliaTsang(alpha))
    }

    /// G ~ Gamma(shape, 1).  (Precondition: shape > 0.)
    @inlinable
    public mutating func nextGamma(shape alpha: Double) -> Double {
        alpha < 1 ? exp(nextLogGamma(shape: alpha)) : marsagliaTsang(alpha)
    }

    /// Marsaglia–Tsang for α ≥ 1: d = α − 1/3, c = 1/√(9d); x ~ N(0,1), v = (1 + c·x)³;
    /// accept d·v when log U < x²/2 + d − d·v + d·log v (with the cheap squeeze U < 1 − 0.0331·x⁴ first).
    @inlinable
    mutating func marsagliaTsang(_ alpha: Double) -> Double {
        let d = alpha - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            let x = nextNormal()
            var v = 1 + c * x
            if v <= 0 { continue }
            v = v * v * v
            let u = nextDouble()
            let x2 = x * x
            if u < 1 - 0.0331 * x2 * x2 { return d * v }
            if u > 0, log(u) < 0.5 * x2 + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// X ~ Beta(a, b), as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (in logs: never 0/0).
    @inlinable
    public mutating func nextBeta(_ a: Double, _ b: Double) -> Double {
        let logX = nextLogGamma(shape: a), logY = nextLogGamma(shape: b)
        // X / (X + Y) = 1 / (1 + exp(log Y − log X))
        return 1 / (1 + exp(logY - logX))
    }

    /// Writes a draw of Dirichlet(α, …, α) over `count` components to `weights[0], weights[stride], …`.
    /// The components are non-negative and sum to 1 (within Float rounding); never all zero.
    /// `scratch` must hold `count` Doubles.
    @inlinable
    public mutating func fillDirichlet(concentration alpha: Double, count: Int,
                                       into weights: UnsafeMutablePointer<Float>, stride: Int = 1,
                                       scratch: UnsafeMutablePointer<Double>) {
        precondition(count > 0, "Dirichlet needs at least one component")
        if alpha >= 1 {
            // λᵢ = Gᵢ / Σ G
            var total = 0.0
            for i in 0..<count {
                let g = marsagliaTsang(alpha)
                scratch[i] = g
                total += g
            }
            let scale = 1 / total
            for i in 0..<count { weights[i * stride] = Float(scratch[i] * scale) }
        } else {
            // λᵢ = exp(log Gᵢ − M) / Σ exp(log G − M),  M = max log G   (a softmax of the logs)
            var largest = -Double.infinity
            for i in 0..<count {
                let logG = nextLogGamma(shape: alpha)
                scratch[i] = logG
                largest = max(largest, logG)
            }
            var total = 0.0
            for i in 0..<count {
                let e = exp(scratch[i] - largest)
                scratch[i] = e
                total += e
            }
            let scale = 1 / total
            for i in 0..<count { weights[i * stride] = Float(scratch[i] * scale) }
        }
    }
}
