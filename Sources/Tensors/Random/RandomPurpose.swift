/// What a random stream is for. Part of every stream's key, so that two uses of randomness at the same
/// (seed, epoch, step, rank) draw independent numbers: shuffling never shares bits with augmentation.
///
/// A new use adds a constant here with an unused raw value; raw values must never be renumbered, or
/// runs stop being reproducible across versions.
public struct RandomPurpose: RawRepresentable, Hashable, Sendable {
    /// The 16-bit tag written into the stream's counter.
    public let rawValue: UInt16
    /// A purpose with tag `rawValue`.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The per-epoch permutation of a dataset (identical on every rank).
    public static let shuffle = RandomPurpose(rawValue: 1)
    /// Data augmentation: crop offsets and flips.
    public static let augmentation = RandomPurpose(rawValue: 2)
    /// Parameter initialisation.
    public static let initialization = RandomPurpose(rawValue: 3)
    /// Mixing weights and pairings (mixup, CutMix, MultiMix).
    public static let mixing = RandomPurpose(rawValue: 4)
    /// Choosing subsets or samples of a dataset (inspection grids, quick-run subsets).
    public static let sampling = RandomPurpose(rawValue: 5)
    /// The fallback input mixup of the steps that do not use the configured mixing method
    /// (`mixing.fallback: mixup`): its λ and permutation.
    public static let fallbackMixing = RandomPurpose(rawValue: 6)
    /// Image folders' random resized crops: image i of a batch reads blocks 8i ..< 8i + 8 (scale, ratio
    /// and offsets of up to 10 tries, and the flip).
    public static let resizedCrop = RandomPurpose(rawValue: 9)
    /// Tar shards: the order a rank's shuffle buffer emits its examples in (keyed by seed, epoch, rank).
    public static let shardBuffer = RandomPurpose(rawValue: 10)
    /// Tar shards: the permutation of the training split `multimix data pack` writes.
    public static let shardPacking = RandomPurpose(rawValue: 11)
    /// Tests and ad-hoc use.
    public static let testing = RandomPurpose(rawValue: 0xFFFF)
}
