import Tensors

/// The Dirichlet (or Beta) concentration α: fixed, or drawn per step uniformly from a range.
///
/// MultiMix's default draws α ~ U[0.5, 2.0] at every step.
public enum Concentration: Equatable, Sendable, CustomStringConvertible {
    /// The same α every step.
    case fixed(Double)
    /// α ~ U[lower, upper], a new value every step.
    case uniform(ClosedRange<Double>)

    /// MultiMix's default: α ~ U[0.5, 2.0].
    public static let multiMixDefault = Concentration.uniform(0.5...2.0)

    /// The α for this step.
    public func draw(_ random: inout RandomStream) -> Double {
        switch self {
        case .fixed(let alpha):
            return alpha
        case .uniform(let range):
            return range.lowerBound + (range.upperBound - range.lowerBound) * random.nextDouble()
        }
    }

    /// Whether every α it can give is positive and finite.
    public var isValid: Bool {
        switch self {
        case .fixed(let alpha): return alpha > 0 && alpha.isFinite
        case .uniform(let range): return range.lowerBound > 0 && range.upperBound.isFinite
        }
    }

    public var description: String {
        switch self {
        case .fixed(let alpha): return "\(alpha)"
        case .uniform(let range): return "U[\(range.lowerBound), \(range.upperBound)]"
        }
    }
}
