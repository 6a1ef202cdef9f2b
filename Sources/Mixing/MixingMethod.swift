import Tensors

/// The ways a training step can mix its mini-batch.
/// (The config reads it as `mixing.method`: Training conforms it to `ConfigChoice`, which supplies `Codable`.)
public enum MixingMethod: String, CaseIterable, Sendable {
    /// Empirical risk minimisation: no mixing.
    case erm
    /// Input mixup: image pairs, λ ~ Beta(α, α).
    case mixup
    /// CutMix: a pasted box, labels weighted by area.
    case cutmix
    /// Manifold mixup: hidden-state pairs at a layer drawn from {input, after stage 1, after stage 2}.
    case manifoldMixup = "manifold-mixup"
    /// MultiMix: n Dirichlet interpolations of the pooled embeddings.
    case multimix
    /// Dense MultiMix: MultiMix at every spatial position, weighted by attention.
    case denseMultimix = "dense-multimix"
}

/// Which method a step uses: the configured one with probability p, plain ERM otherwise (the papers
/// allow both). Drawn from the step's own mixing stream, so every rank and every resumed run agrees.
public struct MixingSchedule: Sendable, Equatable {
    public var method: MixingMethod
    public var probability: Double

    public init(method: MixingMethod, probability: Double = 1) {
        precondition((0...1).contains(probability), "mixing probability \(probability) is outside [0, 1]")
        self.method = method
        self.probability = probability
    }

    /// The method for the step keyed by `randomness`.
    public func method(for randomness: MixingRandomness) -> MixingMethod {
        if method == .erm || probability >= 1 { return method }
        var random = randomness.stream(part: -1)
        return random.nextDouble() < probability ? method : .erm
    }

    /// Manifold mixup's layer for the step: 0 = input, 1 = after stage 1, 2 = after stage 2.
    public func manifoldLayer(for randomness: MixingRandomness) -> Int {
        var random = randomness.stream(part: -2)
        return random.nextInt(below: 3)
    }
}
