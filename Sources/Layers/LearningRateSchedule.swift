#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// The learning rate as a function of the (fractional) epoch: an optional linear warm-up, then
/// constant, multistep or cosine decay.
///
///     warm-up (e < w):   η = η₀·(s + (1 − s)·e/w)                     s = warmupStartFactor
///     constant:          η = η₀
///     multistep:         η = η₀·γ^|{m ∈ milestones : m ≤ e}|
///     cosine:            η = η_min + (η₀ − η_min)·(1 + cos(π·p))/2    p = (e − w)/(E − w), clamped to [0, 1]
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Decay: Sendable, Equatable {
        case constant
        case multistep(milestones: [Double], gamma: Double)
        case cosine(minimum: Double)
    }

    /// η₀
    public var baseRate: Double
    public var decay: Decay
    /// w, in epochs (0: no warm-up).
    public var warmupEpochs: Double
    /// s: the fraction of η₀ the warm-up starts from.
    public var warmupStartFactor: Double
    /// E, the run's length in epochs (the cosine reaches η_min there).
    public var totalEpochs: Double

    public init(baseRate: Double, decay: Decay = .constant, warmupEpochs: Double = 0, warmupStartFactor: Double = 0.01,
                totalEpochs: Double) {
        self.baseRate = baseRate
        self.decay = decay
        self.warmupEpochs = warmupEpochs
        self.warmupStartFactor = warmupStartFactor
        self.totalEpochs = totalEpochs
    }

    /// η at epoch `e` (e = epoch + step/stepsPerEpoch).
    public func rate(atEpoch e: Double) -> Double {
        if e < warmupEpochs {
            return baseRate * (warmupStartFactor + (1 - warmupStartFactor) * e / warmupEpochs)
        }
        switch decay {
        case .constant:
            return baseRate
        case let .multistep(milestones, gamma):
            return baseRate * pow(gamma, Double(milestones.filter { $0 <= e }.count))
        case let .cosine(minimum):
            let span = totalEpochs - warmupEpochs
            let p = span > 0 ? min(max((e - warmupEpochs) / span, 0), 1) : 1
            return minimum + (baseRate - minimum) * (1 + cos(Double.pi * p)) / 2
        }
    }
}
