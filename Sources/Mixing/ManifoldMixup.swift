import Tensors

/// Manifold mixup (Verma et al. 2019): mixup of pairs at a layer drawn per step, the input or the
/// hidden state after an encoder stage.
///
///     layer ~ U{0, 1, 2}  (stream part −2),  capped at the encoder's last stage but one
///     h̃ᵢ = λ hᵢ + (1 − λ) h_{π(i)}        ỹᵢ = λ yᵢ + (1 − λ) y_{π(i)}        (``PairMix``)
///     backward: dhᵢ = λ dh̃ᵢ + (1 − λ) dh̃_{π⁻¹(i)}
public final class ManifoldMixup: Mixer {
    public let pairs: PairMix

    public init(concentration: Concentration = .fixed(1)) {
        pairs = PairMix(concentration: concentration)
    }

    /// The layer for the step: 0 = input, 1 = after stage 1, 2 = after stage 2.
    public static func layer(for randomness: MixingRandomness) -> Int {
        var random = randomness.stream(part: -2)
        return random.nextInt(below: 3)
    }

    public func stage(for randomness: MixingRandomness, encoderStages: Int) -> MixingStage {
        let layer = min(ManifoldMixup.layer(for: randomness), encoderStages - 1)
        return layer == 0 ? .input : .hidden(afterStage: layer)
    }

    public func forward(_ values: Tensor, targets y: Tensor, context: MixingContext) -> MixedBatch {
        let (h, targets) = pairs.forward(values, targets: y, randomness: context.randomness)
        return MixedBatch(values: h, targets: targets)
    }

    public func backward(_ gradient: Tensor, addingPooled pooled: UnsafePointer<Float>?) -> Tensor {
        precondition(pooled == nil, "ManifoldMixup mixes inside the encoder: no pooled gradient reaches it")
        return pairs.backward(gradient)
    }
}
