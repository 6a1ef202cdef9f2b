import Tensors

/// Empirical risk minimisation: no mixing. The classifier sees the pooled batch Z with its one-hot
/// targets Y:
///
///     L = 1/b Σ_i CE(f(z_i), y_i)
///
/// Its stage is `.none`: the step calls neither forward nor backward, which are the identity.
public final class ERM: Mixer {
    public init() {}

    public func stage(for randomness: MixingRandomness, encoderStages: Int) -> MixingStage { .none }

    /// (x, Y) unchanged.
    public func forward(_ values: Tensor, targets y: Tensor, context: MixingContext) -> MixedBatch {
        MixedBatch(values: values, targets: y)
    }

    /// dL/dx = dL/dx̃.
    public func backward(_ gradient: Tensor, addingPooled pooled: UnsafePointer<Float>?) -> Tensor {
        precondition(pooled == nil, "ERM: no pooled gradient reaches an unmixed batch by another path")
        return gradient
    }
}
