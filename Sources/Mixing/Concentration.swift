#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// The Dirichlet (or Beta) concentration α: fixed, drawn per step uniformly from a range, or
/// scheduled over training.
///
/// MultiMix's default draws α ~ U[0.5, 2.0] at every step.
public enum Concentration: Equatable, Sendable, CustomStringConvertible {
    /// The same α every step.
    case fixed(Double)
    /// α ~ U[lower, upper], a new value every step.
    case uniform(ClosedRange<Double>)
    /// α moved geometrically from `from` at the start of training to `to` at the end:
    /// α(p) = from·(to/from)^p at progress p ∈ [0, 1] (linear in log α, the scale it acts on).
    case annealed(from: Double, to: Double)

    /// MultiMix's default: α ~ U[0.5, 2.0].
    public static let multiMixDefault = Concentration.uniform(0.5...2.0)

    /// The α for this step, `progress` ∈ [0, 1] of the way through training.
    public func draw(_ random: inout RandomStream, progress: Double = 0) -> Double {
        switch self {
        case .fixed(let alpha):
            return alpha
        case .uniform(let range):
            return range.lowerBound + (range.upperBound - range.lowerBound) * random.nextDouble()
        case .annealed(let from, let to):
            return from * pow(to / from, min(max(progress, 0), 1))
        }
    }

    /// Whether every α it can give is positive and finite.
    public var isValid: Bool {
        switch self {
        case .fixed(let alpha): return alpha > 0 && alpha.isFinite
        case .uniform(let range): return range.lowerBound > 0 && range.upperBound.isFinite
        case .annealed(let from, let to): return from > 0 && to > 0 && from.isFinite && to.isFinite
        }
    }

    public var description: String {
        switch self {
        case .fixed(let alpha): return "\(alpha)"
        case .uniform(let range): return "U[\(range.lowerBound), \(range.upperBound)]"
        case .annealed(let from, let to): return "\(from)→\(to)"
        }
    }
}
