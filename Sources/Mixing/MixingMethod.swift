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

    /// The mixer that runs this method (a new method's one line besides its file: see ``Mixer``).
    /// - Parameters:
    ///   - mixedCount: n of MultiMix and Dense MultiMix (per rank).
    ///   - concentration: α (Dirichlet for the MultiMixes, Beta(α, α) for the pair methods).
    ///   - options: m and the attention of the two MultiMixes (their loss knobs are the objective's).
    public func mixer(mixedCount: Int, concentration: Concentration, options: MultiMixOptions = .paper) -> any Mixer {
        switch self {
        case .erm: ERM()
        case .mixup: InputMixup(concentration: concentration)
        case .cutmix: CutMix(concentration: concentration)
        case .manifoldMixup: ManifoldMixup(concentration: concentration)
        case .multimix: MultiMix(mixedCount: mixedCount, concentration: concentration, examplesPerMix: options.examplesPerMix)
        case .denseMultimix: DenseMultiMix(mixedCount: mixedCount, concentration: concentration,
                                           examplesPerMix: options.examplesPerMix, attentionNormalisation: options.attention)
        }
    }
}

/// What a step does when it does not use the configured method (`mixing.fallback`).
/// (Training conforms it to `ConfigChoice`, which supplies `Codable`.)
public enum MixingFallback: String, CaseIterable, Sendable {
    /// Plain ERM: no mixing.
    case erm
    /// Input mixup: x̃ = λx + (1 − λ)x_π, λ ~ Beta(α, α) with the fallback's own α (`mixing.fallback_alpha`)
    /// and its own stream (``MixingRandomness/fallback``). With p = 0.5 and MultiMix this is the
    /// authors' alternation (AlignMixup's code draws per step whether to mix inputs or features).
    case mixup

    /// The method a fallback step runs.
    public var method: MixingMethod { self == .erm ? .erm : .mixup }

    /// The mixer of a fallback step: ERM, or input mixup with α `concentration` on the fallback stream.
    public func mixer(concentration: Concentration) -> any Mixer {
        switch self {
        case .erm: ERM()
        case .mixup: InputMixup(concentration: concentration, randomness: .fallback)
        }
    }
}

/// Which method a step uses: the configured one with probability p, the fallback (plain ERM or input
/// mixup) otherwise. Drawn from the step's own mixing stream, so every rank and every resumed run agrees:
///
///     u ~ U[0, 1) from stream (seed, epoch, step, rank, .mixing, part −1)
///     method = configured if u < p, else fallback
public struct MixingSchedule: Sendable, Equatable {
    public var method: MixingMethod
    public var probability: Double
    public var fallback: MixingFallback

    public init(method: MixingMethod, probability: Double = 1, fallback: MixingFallback = .erm) {
        precondition((0...1).contains(probability), "mixing probability \(probability) is outside [0, 1]")
        self.method = method
        self.probability = probability
        self.fallback = fallback
    }

    /// Whether the step keyed by `randomness` uses the configured method (else the fallback).
    public func usesMethod(for randomness: MixingRandomness) -> Bool {
        if probability >= 1 || (method == .erm && fallback == .erm) { return true }
        var random = randomness.stream(part: -1)
        return random.nextDouble() < probability
    }

    /// The method for the step keyed by `randomness`.
    public func method(for randomness: MixingRandomness) -> MixingMethod {
        usesMethod(for: randomness) ? method : fallback.method
    }

    /// Manifold mixup's layer for the step: 0 = input, 1 = after stage 1, 2 = after stage 2
    /// (``ManifoldMixup/layer(for:)``).
    public func manifoldLayer(for randomness: MixingRandomness) -> Int { ManifoldMixup.layer(for: randomness) }
}
