import Tensors

/// How the mixed loss is scaled.
public enum MixedLossScale: String, CaseIterable, Sendable {
    /// The paper's eq. 4: the mean over the n mixed examples (s = 1).
    case mean
    /// s chosen so that the part of each example's gradient that pulls it toward its own class has
    /// ERM's size (``MixedObjective/ermMatchedScale(examples:examplesPerMix:alpha:)``).
    case ermMatched = "erm-matched"
}

/// The objective of a MultiMix or Dense MultiMix step, over the rows the classifier sees:
///
///     L = s · 1/N Σ_k CE(f(z̃_k), ỹ_k)  +  w · 1/b Σ_i CE(f(z_i), y_i)
///           N mixed rows (n, or n·r)        b clean rows (the un-mixed, pooled batch)
///
/// s is the mixed-loss scale (1 for the paper's mean), w the clean-loss weight (0 in the paper).
/// Both go through the one classifier call as one stack of rows: the soft-target cross-entropy is the
/// mean over its rows of Σ_c t_c·(−log p_c), so a target row scaled by a weight is that row's weight
/// (its gradient is (p·Σt − t)/rows). Mixed target rows are scaled by s·R/N and clean ones by w·R/b,
/// R = N + b rows in all. With w = 0 and s = 1 the rows pass through untouched (no copy).
public final class MixedObjective {
    public let lossScale: MixedLossScale
    public let cleanLossWeight: Double

    private let rows = Tensor(shape: [0])
    private let rowTargets = Tensor(shape: [0])
    private let mixedGradient = Tensor(shape: [0])
    private var mixedRowCount = 0, cleanRowCount = 0

    public init(lossScale: MixedLossScale = .mean, cleanLossWeight: Double = 0) {
        precondition(cleanLossWeight >= 0 && cleanLossWeight.isFinite, "MixedObjective: clean-loss weight \(cleanLossWeight)")
        self.lossScale = lossScale
        self.cleanLossWeight = cleanLossWeight
    }

    /// Whether the clean batch is classified beside the mixed rows.
    public var includesCleanRows: Bool { cleanLossWeight > 0 }

    /// s for ERM-matched scaling, with λ ~ Dirichlet(α·1_m) on a random m-subset of the b examples.
    ///
    /// Example i's gradient through the classifier is dz_i = 1/n Σ_k λ_ik Wᵀ(p_k − ỹ_k), and the part of
    /// −ỹ_k = −Σ_j λ_jk y_j that is about example i's own label has the coefficient
    ///
    ///     c = E[λ_i²] − E[λ_i λ_j] = ((b − 1) + α(b − m)) / (b (b − 1)(mα + 1))
    ///
    /// (E[λ_i²] = (α + 1)/(b(mα + 1)), E[λ_iλ_j] = (m − 1)α/(b(b − 1)(mα + 1)), i in the subset with
    /// probability m/b). ERM (m = 1) gives c = 1/b, so s = (1/b)/c. With m = b it is bα + 1: at b = 64 and
    /// α ∈ [0.5, 2] the paper's mixed loss pulls each example toward its class 33–129 times more weakly
    /// than ERM does.
    public static func ermMatchedScale(examples b: Int, examplesPerMix m: Int, alpha: Double) -> Double {
        guard b > 1 else { return 1 }
        let (bd, md) = (Double(b), Double(min(max(m, 1), b)))
        let coefficient = ((bd - 1) + alpha * (bd - md)) / (bd * (bd - 1) * (md * alpha + 1))
        return (1 / bd) / coefficient
    }

    /// s for this step.
    public func mixedScale(examples b: Int, examplesPerMix m: Int, alpha: Double) -> Double {
        switch lossScale {
        case .mean: return 1
        case .ermMatched: return MixedObjective.ermMatchedScale(examples: b, examplesPerMix: m, alpha: alpha)
        }
    }

    /// The classifier's input rows and their weighted targets: [mixed; clean] (clean only when w > 0).
    /// `clean` is Z (b×d) and `cleanTargets` Y (b×c).
    public func stack(mixed: Tensor, mixedTargets: Tensor, clean: Tensor, cleanTargets: Tensor,
                      mixedScale s: Double) -> (rows: Tensor, targets: Tensor) {
        let (nMixed, d, c) = (mixed.shape[0], mixed.shape[1], mixedTargets.shape[1])
        precondition(mixedTargets.shape[0] == nMixed, "MixedObjective: \(nMixed) rows, targets \(mixedTargets.shape)")
        precondition(!includesCleanRows || (clean.shape.count == 2 && clean.shape[1] == d && cleanTargets.shape == [clean.shape[0], c]),
                     "MixedObjective: rows \(mixed.shape), clean \(clean.shape), clean targets \(cleanTargets.shape)")
        mixedRowCount = nMixed
        cleanRowCount = includesCleanRows ? clean.shape[0] : 0
        let total = mixedRowCount + cleanRowCount
        if cleanRowCount == 0 && s == 1 { return (mixed, mixedTargets) }

        rowTargets.resize(to: [total, c])
        // Mixed targets × s·R/N.
        let mixedWeight = Float(s * Double(total) / Double(nMixed))
        for index in 0..<(nMixed * c) { rowTargets.data[index] = mixedTargets.data[index] * mixedWeight }
        guard cleanRowCount > 0 else { return (mixed, rowTargets) }
        // Clean targets × w·R/b, clean rows after the mixed ones.
        let cleanWeight = Float(cleanLossWeight * Double(total) / Double(cleanRowCount))
        let cleanTargetRows = rowTargets.data + nMixed * c
        for index in 0..<(cleanRowCount * c) { cleanTargetRows[index] = cleanTargets.data[index] * cleanWeight }
        rows.resize(to: [total, d])
        rows.data.update(from: mixed.data, count: nMixed * d)
        (rows.data + nMixed * d).update(from: clean.data, count: cleanRowCount * d)
        return (rows, rowTargets)
    }

    /// Splits dL/drows back into the mixed rows' gradient (N×d) and a pointer to the clean rows'
    /// (b×d, nil when there are none).
    public func split(_ rowGradient: Tensor) -> (mixed: Tensor, clean: UnsafePointer<Float>?) {
        guard cleanRowCount > 0 else { return (rowGradient, nil) }
        let d = rowGradient.shape[1]
        mixedGradient.resize(to: [mixedRowCount, d])
        mixedGradient.data.update(from: rowGradient.data, count: mixedRowCount * d)
        return (mixedGradient, UnsafePointer(rowGradient.data + mixedRowCount * d))
    }
}

/// The knobs of MultiMix and Dense MultiMix beyond n and α. The defaults are the paper's method.
public struct MultiMixOptions: Sendable, Equatable {
    /// m: how many of the b examples each mixed example interpolates (nil: all b).
    public var examplesPerMix: Int?
    /// s: the mixed loss's scale (``MixedLossScale``).
    public var lossScale: MixedLossScale
    /// w: the weight of a clean-batch cross-entropy added to the mixed loss (0: none).
    public var cleanLossWeight: Double
    /// Dense MultiMix's attention normalisation.
    public var attention: DenseMultiMix.AttentionNormalisation

    public init(examplesPerMix: Int? = nil, lossScale: MixedLossScale = .mean, cleanLossWeight: Double = 0,
                attention: DenseMultiMix.AttentionNormalisation = .reluL1) {
        self.examplesPerMix = examplesPerMix
        self.lossScale = lossScale
        self.cleanLossWeight = cleanLossWeight
        self.attention = attention
    }

    /// The paper's MultiMix: m = b, the mean over n, no clean loss, ReLU + ℓ1 attention.
    public static let paper = MultiMixOptions()
}
