import Tensors

/// A mixing method, as the training step drives it: where it mixes (its ``MixingStage``), the mix
/// itself (forward) and the gradient back through it (backward). Every method goes through this one
/// interface; `TrainingStep` has no per-method code:
///
///     x, Y ─[.input]→ encoder ─[.hidden(k)]→ F ─[.positions]→ rows ┐
///                                            F ─pool→ Z ─[.pooled]→ rows ├─classifier→ MixedObjective
///                                            F ─pool→ Z ──────────→ rows ┘   (the other stages)
///
/// Y is the one-hot targets (``MixedObjective/targets``); a mixer returns the mixed tensor with its
/// targets (Ỹ = YΛ for MultiMix), and backward maps dL/d(what it returned) to dL/d(what it was given).
///
/// **Adding a method** is one file plus its config case:
/// 1. A file in `Sources/Mixing` with a class conforming to `Mixer` (the paper's equations as comment
///    lines beside the code that computes them, as in `MultiMix.swift`). Its random draws come from
///    `context.randomness.stream(part:)` (a part of its own for each independent draw), so a step
///    stays a pure function of (seed, epoch, step, rank).
/// 2. A case in ``MixingMethod`` (its config name) and the line in
///    ``MixingMethod/mixer(mixedCount:concentration:options:)`` that builds it: `mixing.method` and
///    `bench train --mixer` then accept it (their errors list it). Name it in `docs/config.md`'s
///    `mixing.method` row.
/// 3. `TrainingStepTests` runs one step of every ``MixingMethod`` case and checks its gradient
///    against finite differences: give the new case its loss terms and stage there.
public protocol Mixer: AnyObject {
    /// Where this step mixes. `encoderStages`: the encoder's stage count (manifold mixup's choice).
    func stage(for randomness: MixingRandomness, encoderStages: Int) -> MixingStage

    /// Draws this step's mixing and mixes `values` with targets Y (b×c). `values` is what the stage
    /// holds: the images [b, H, W, C], the hidden state after stage k, the pooled embeddings Z [b, d]
    /// or the feature map F [b, h, w, d]. Never called at stage `.none`.
    func forward(_ values: Tensor, targets y: Tensor, context: MixingContext) -> MixedBatch

    /// dL/d(values) from dL/d(the mixed values), plus `pooled` (b×d) when given: a gradient that
    /// reached the pooled embeddings Z by another path (the objective's clean rows; only for the
    /// stages `.pooled` and `.positions`). Never called at `.input` (the images need no gradient)
    /// or `.none`.
    func backward(_ gradient: Tensor, addingPooled pooled: UnsafePointer<Float>?) -> Tensor
}

/// Where in the network a mixer mixes.
public enum MixingStage: Equatable, Sendable {
    /// Nowhere (ERM).
    case none
    /// The input images, before the encoder.
    case input
    /// The hidden state after encoder stage k ≥ 1 (manifold mixup).
    case hidden(afterStage: Int)
    /// The pooled embeddings Z [b, d], into any number of rows (MultiMix).
    case pooled
    /// Every spatial position of the feature map F [b, h, w, d] (Dense MultiMix).
    case positions

    /// k of `.hidden(afterStage: k)`, nil at every other stage.
    public var encoderStage: Int? {
        if case .hidden(let stage) = self { return stage }
        return nil
    }
}

/// What a mixer reads besides the values it mixes.
public struct MixingContext {
    /// The step's key for every random draw.
    public var randomness: MixingRandomness
    /// W [K, d] of the classifier the rows go to (row k: class k's weights), a copy made on request:
    /// Dense MultiMix's attention reads it.
    public var classifierWeight: () -> Tensor

    public init(randomness: MixingRandomness, classifierWeight: @escaping () -> Tensor) {
        self.randomness = randomness
        self.classifierWeight = classifierWeight
    }
}

/// A mixer's output: the mixed values and their targets.
public struct MixedBatch {
    /// x̃ (the shape it was given) at `.input` and `.hidden`; the rows for the classifier [N, d] at
    /// `.pooled` and `.positions`.
    public var values: Tensor
    /// Ỹ: b×c beside x̃, N×c beside rows.
    public var targets: Tensor
    /// The Dirichlet behind rows that interpolate the batch (MultiMix's), nil otherwise: what the
    /// objective's ERM-matched scale reads, and what makes it put the clean batch beside the rows.
    public var interpolation: Interpolation?

    public init(values: Tensor, targets: Tensor, interpolation: Interpolation? = nil) {
        self.values = values
        self.targets = targets
        self.interpolation = interpolation
    }

    /// λ_k ~ Dirichlet(α·1_m) on m of the batch's examples, this step.
    public struct Interpolation: Equatable, Sendable {
        /// m.
        public var examplesPerMix: Int
        /// α.
        public var alpha: Double

        public init(examplesPerMix: Int, alpha: Double) {
            self.examplesPerMix = examplesPerMix
            self.alpha = alpha
        }
    }
}
