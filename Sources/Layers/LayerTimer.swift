#if canImport(Glibc)
import Glibc
#endif

/// Seconds spent per layer kind and pass, summed over calls (for `multimix bench train`).
public final class LayerTimer {
    public enum Kind: String, CaseIterable, Sendable {
        case convolutionForward = "conv forward"
        case convolutionBackwardData = "conv backward data"
        case convolutionBackwardWeights = "conv backward weights"
        case batchNormForward = "batchnorm+relu+add forward"
        case batchNormBackward = "batchnorm+relu+add backward"
        case elementwise = "relu/add/shortcut"
        case pooling = "pooling"
        case linear = "linear"
        case loss = "loss"
    }

    public private(set) var seconds: [Kind: Double] = [:]

    public init() {}

    public func add(_ kind: Kind, seconds duration: Double) { seconds[kind, default: 0] += duration }

    public func reset() { seconds = [:] }

    /// A monotonic clock in seconds.
    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
