import Tensors

/// Where a step's mixing randomness comes from: the counter-based RNG keyed by
/// (seed, epoch, step, rank), purpose `.mixing` (`.fallbackMixing` for the fallback input mixup of
/// the steps that do not use the configured method: ``fallback``). Independent parts of a step (Dense MultiMix's
/// positions, say) get streams of their own, so the draws do not depend on which thread makes them
/// or in what order: a step's mixed batch is a pure function of this key.
public struct MixingRandomness: Sendable, Equatable {
    public var seed: UInt64
    public var epoch: Int
    public var step: Int
    public var rank: Int
    /// How far training has come, in [0, 1] (the step's fraction of all steps): what a scheduled α
    /// (``Concentration/annealed(from:to:)``) is read at. Not part of the key.
    public var progress: Double
    /// The purpose its streams are keyed by: `.mixing`, or `.fallbackMixing` (``fallback``).
    public var purpose: RandomPurpose

    public init(seed: UInt64, epoch: Int, step: Int, rank: Int, progress: Double = 0, purpose: RandomPurpose = .mixing) {
        self.seed = seed
        self.epoch = epoch
        self.step = step
        self.rank = rank
        self.progress = progress
        self.purpose = purpose
    }

    /// The same step's randomness for its fallback input mixup (purpose `.fallbackMixing`): λ and π
    /// of a step that does not use the configured method, independent of every `.mixing` draw.
    public var fallback: MixingRandomness {
        var copy = self
        copy.purpose = .fallbackMixing
        return copy
    }

    /// The stream for part `part` of the step (part 0 is the step's main stream; negative parts are
    /// for per-step decisions such as which method a step uses).
    public func stream(part: Int = 0) -> RandomStream {
        // SplitMix64's finaliser decorrelates neighbouring seeds; part 0 keeps the seed as is.
        var z = seed &+ UInt64(bitPattern: Int64(part)) &* 0x9E37_79B9_7F4A_7C15
        if part != 0 {
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
        }
        return RandomStream(seed: z, epoch: epoch, step: step, rank: rank, purpose: purpose)
    }
}
