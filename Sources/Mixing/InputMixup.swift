import Tensors

/// Input mixup (Zhang et al. 2018): pairs of images, before the encoder.
///
///     λ ~ Beta(α, α),  π a random permutation of the batch
///     x̃ᵢ = λ xᵢ + (1 − λ) x_{π(i)}        ỹᵢ = λ yᵢ + (1 − λ) y_{π(i)}        (``PairMix``)
///
/// Also the fallback of `mixing.fallback: mixup`, with its own α and its own stream
/// (``MixingRandomness/fallback``), so that its draws never depend on the configured method's.
public final class InputMixup: Mixer {
    /// Which of the step's streams λ and π come from.
    public enum Stream: Sendable {
        /// The step's mixing stream (`mixing.method: mixup`).
        case method
        /// The step's fallback stream (the fallback of the steps that do not use the configured method).
        case fallback
    }

    public let pairs: PairMix
    public let stream: Stream

    public init(concentration: Concentration = .fixed(1), randomness stream: Stream = .method) {
        pairs = PairMix(concentration: concentration)
        self.stream = stream
    }

    public func stage(for randomness: MixingRandomness, encoderStages: Int) -> MixingStage { .input }

    public func forward(_ values: Tensor, targets y: Tensor, context: MixingContext) -> MixedBatch {
        let randomness = stream == .fallback ? context.randomness.fallback : context.randomness
        let (x, targets) = pairs.forward(values, targets: y, randomness: randomness)
        return MixedBatch(values: x, targets: targets)
    }

    /// dxᵢ = λ dx̃ᵢ + (1 − λ) dx̃_{π⁻¹(i)} (the step does not call it: images need no gradient).
    public func backward(_ gradient: Tensor, addingPooled pooled: UnsafePointer<Float>?) -> Tensor {
        precondition(pooled == nil, "InputMixup mixes the input: no pooled gradient reaches it")
        return pairs.backward(gradient)
    }
}
