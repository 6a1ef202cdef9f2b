import Layers
import Tensors

/// How the mixed loss is scaled.
public enum MixedLossScale: String, CaseIterable, Sendable {
    /// The paper's eq. 4: the mean over the n mixed examples (s = 1).
    case mean
    /// s chosen so that the part of each example's gradient that pulls it toward its own class has
    /// ERM's size (``MixedObjective/ermMatchedScale(examples:examplesPerMix:alpha:)``).
    case ermMatched = "erm-matched"
}

/// The objective of every training step: the targets, the rows the classifier sees, and the
/// soft-target cross-entropy with its gradient.
///
///     Y = one-hot(labels)  (b×c)                        the targets every mixer mixes (Ỹ = YΛ, …)
///     L = s · 1/N Σ_k CE(f(z̃_k), ỹ_k)  +  w · 1/b Σ_i CE(f(z_i), y_i)
///           N mixed rows (n, or n·r)        b clean rows (the un-mixed, pooled batch)
///
/// For rows that interpolate the batch under a Dirichlet (MultiMix, Dense MultiMix: a
/// ``MixedBatch/Interpolation``), s is the mixed-loss scale (1 for the paper's mean) and w the
/// clean-loss weight (0 in the paper). Every other batch (ERM, the pair methods, whose rows are the
/// pooled batch itself, mixed or not) has s = 1 and no clean rows: L = 1/b Σ_i CE(f(z_i), ỹ_i).
///
/// Both parts go through the one classifier call as one stack of rows: the soft-target cross-entropy
/// is the mean over its rows of Σ_c t_c·(−log p_c), so a target row scaled by a weight is that row's
/// weight (its gradient is (p·Σt − t)/rows). Mixed target rows are scaled by s·R/N and clean ones by
/// w·R/b, R = N + b rows in all. With w = 0 and s = 1 the rows pass through untouched (no copy).
///
/// A step: `setLabels` (Y), `rows` (the classifier's input), `loss` (of the classifier's logits),
/// `split` (dL/drows, from the classifier's backward of `logitGradient`, into what the mixer's
/// backward takes).
public final class MixedObjective {
    public let lossScale: MixedLossScale
    public let cleanLossWeight: Double
    /// Y (b×c) of the step: row i is the one-hot vector of label i.
    public let targets = Tensor(shape: [0])

    private let criterion: SoftTargetCrossEntropy
    private let rows = Tensor(shape: [0])
    private let rowTargets = Tensor(shape: [0])
    private let mixedGradient = Tensor(shape: [0])
    private var mixedRowCount = 0, cleanRowCount = 0
    /// The targets of the last `rows` (or `stack`).
    private var rowTargetsInUse: Tensor?

    /// - Parameter context: the model's layer context (the cross-entropy's time goes to its timer).
    public init(lossScale: MixedLossScale = .mean, cleanLossWeight: Double = 0, context: LayerContext = LayerContext()) {
        precondition(cleanLossWeight >= 0 && cleanLossWeight.isFinite, "MixedObjective: clean-loss weight \(cleanLossWeight)")
        self.lossScale = lossScale
        self.cleanLossWeight = cleanLossWeight
        criterion = SoftTargetCrossEntropy(context)
    }

    /// Y = one-hot(labels) into ``targets``.
    @discardableResult
    public func setLabels<Labels: Collection>(_ labels: Labels, classes: Int) -> Tensor where Labels.Element == Int32 {
        MixedObjective.oneHot(labels, classes: classes, into: targets)
        return targets
    }

    /// Y (b×c): row i is the one-hot vector of `labels[i]`.
    public static func oneHot<Labels: Collection>(_ labels: Labels, classes: Int, into y: Tensor) where Labels.Element == Int32 {
        y.resize(to: [labels.count, classes])
        y.data.update(repeating: 0, count: y.count)
        for (i, label) in labels.enumerated() {
            precondition(label >= 0 && Int(label) < classes, "label \(label) of example \(i) is outside 0..<\(classes)")
            y.data[i * classes + Int(label)] = 1
        }
    }

    /// Whether `rows(for: batch, …)` stacks the clean batch below `batch`'s rows: when they
    /// interpolate the batch and w > 0.
    public func needsCleanRows(for batch: MixedBatch) -> Bool { batch.interpolation != nil && includesCleanRows }

    /// The classifier's input rows for the step: `batch`'s rows with its targets, and, when
    /// `needsCleanRows(for: batch)`, the clean pooled batch `clean` (Z, b×d) with Y below them.
    public func rows(for batch: MixedBatch, clean: Tensor?) -> Tensor {
        guard let interpolation = batch.interpolation else {
            return stack(mixed: batch.values, mixedTargets: batch.targets, clean: batch.values, cleanTargets: targets,
                         mixedScale: 1, cleanRows: false).rows
        }
        let s = mixedScale(examples: targets.shape[0], examplesPerMix: interpolation.examplesPerMix, alpha: interpolation.alpha)
        precondition(!needsCleanRows(for: batch) || clean != nil, "MixedObjective: w = \(cleanLossWeight) needs the clean batch")
        return stack(mixed: batch.values, mixedTargets: batch.targets, clean: clean ?? batch.values, cleanTargets: targets,
                     mixedScale: s).rows
    }

    /// How many rows the last `rows` stacked: the loss's terms.
    public var rowCount: Int { mixedRowCount + cleanRowCount }

    /// L: the soft-target cross-entropy of `logits` (the classifier's output for the last `rows`).
    public func loss(logits: Tensor) -> Double {
        guard let rowTargets = rowTargetsInUse else { preconditionFailure("MixedObjective.loss before rows") }
        return criterion.forward(logits: logits, targets: rowTargets)
    }

    /// dL/dlogits of the last `loss`.
    public func logitGradient() -> Tensor { criterion.backward() }


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
        stack(mixed: mixed, mixedTargets: mixedTargets, clean: clean, cleanTargets: cleanTargets, mixedScale: s,
              cleanRows: includesCleanRows)
    }

    private func stack(mixed: Tensor, mixedTargets: Tensor, clean: Tensor, cleanTargets: Tensor, mixedScale s: Double,
                       cleanRows: Bool) -> (rows: Tensor, targets: Tensor) {
        let (nMixed, d, c) = (mixed.shape[0], mixed.shape[1], mixedTargets.shape[1])
        precondition(mixedTargets.shape[0] == nMixed, "MixedObjective: \(nMixed) rows, targets \(mixedTargets.shape)")
        precondition(!cleanRows || (clean.shape.count == 2 && clean.shape[1] == d && cleanTargets.shape == [clean.shape[0], c]),
                     "MixedObjective: rows \(mixed.shape), clean \(clean.shape), clean targets \(cleanTargets.shape)")
        mixedRowCount = nMixed
        cleanRowCount = cleanRows ? clean.shape[0] : 0
        let total = mixedRowCount + cleanRowCount
        if cleanRowCount == 0 && s == 1 {
            rowTargetsInUse = mixedTargets
            return (mixed, mixedTargets)
        }
        rowTargetsInUse = rowTargets

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
    /// (b×d, nil when there are none): what the mixer's backward takes (``Mixer/backward(_:addingPooled:)``).
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
