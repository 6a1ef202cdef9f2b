import Tensors

/// Which examples each rank sees in an epoch, with the semantics of PyTorch's `DistributedSampler`.
///
///     order  = permutation of 0..<n for (seed, epoch)          (or 0..<n unshuffled, e.g. for tests)
///     .pad   : total = ⌈n / R⌉ · R; order += order[0 ..< total − n] (cyclically if needed)
///     .drop  : total = ⌊n / R⌋ · R; order = order[0 ..< total]
///     rank r : order[r], order[r + R], order[r + 2R], …        (total / R indices, the same on every rank)
///
/// Every rank gets exactly ``samplesPerRank`` indices, so every rank runs the same number of batches
/// and collectives cannot deadlock on an uneven tail. The permutation is drawn from the counter RNG
/// keyed by (seed, epoch, purpose `.shuffle`) with step and rank 0, so all ranks agree on it without
/// talking. With `.pad`, the repeated indices come last in a rank's list (see ``realCount``), so an
/// evaluation can count each test example exactly once.
public struct DistributedSampler: EpochSampling, Equatable {
    /// What to do with the n mod R examples that do not divide evenly among ranks.
    public enum Tail: String, Sendable, Codable, CaseIterable {
        /// Leave them out (each epoch leaves out different ones when shuffling).
        case drop
        /// Repeat examples from the start of the order until every rank has the same count.
        case pad
    }

    /// Number of examples in the dataset.
    public let datasetCount: Int
    /// Number of ranks R.
    public let worldSize: Int
    /// This rank r.
    public let rank: Int
    /// Whether each epoch has its own permutation (training) or the dataset order is kept (evaluation).
    public let shuffle: Bool
    /// The run's seed.
    public let seed: UInt64
    /// Dropping or padding the uneven tail.
    public let tail: Tail

    /// A sampler for rank `rank` of `worldSize` over `datasetCount` examples.
    public init(datasetCount: Int, worldSize: Int, rank: Int, shuffle: Bool, seed: UInt64, tail: Tail) {
        precondition(datasetCount >= 0, "dataset count \(datasetCount)")
        precondition(worldSize >= 1 && rank >= 0 && rank < worldSize, "rank \(rank) of world size \(worldSize)")
        self.datasetCount = datasetCount
        self.worldSize = worldSize
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.tail = tail
    }

    /// Indices each rank gets per epoch: ⌊n / R⌋ (drop) or ⌈n / R⌉ (pad).
    public var samplesPerRank: Int {
        tail == .drop ? datasetCount / worldSize : (datasetCount + worldSize - 1) / worldSize
    }

    /// Indices all ranks get together per epoch.
    public var totalCount: Int { samplesPerRank * worldSize }

    /// How many of this rank's indices are not padding: all of them with `.drop`; with `.pad`, those
    /// at positions k with r + k·R < n. Padding always comes after them.
    public var realCount: Int {
        tail == .drop ? samplesPerRank : min(samplesPerRank, max(0, (datasetCount - rank + worldSize - 1) / worldSize))
    }

    /// The global order of epoch `epoch`: a permutation of 0..<n (identity when not shuffling).
    public func globalOrder(epoch: Int) -> [Int] {
        guard shuffle else { return Array(0..<datasetCount) }
        var stream = RandomStream(seed: seed, epoch: epoch, step: 0, rank: 0, purpose: .shuffle)
        return stream.permutation(count: datasetCount)
    }

    /// This rank's indices for epoch `epoch`, in order: ``samplesPerRank`` of them.
    public func indices(epoch: Int) -> [Int] {
        let order = globalOrder(epoch: epoch)
        let count = samplesPerRank
        guard count > 0 else { return [] }
        var mine = [Int]()
        mine.reserveCapacity(count)
        for k in 0..<count {
            let position = rank + k * worldSize  // < totalCount; ≥ n only when padding
            mine.append(order[position % datasetCount])
        }
        return mine
    }

}

/// Which examples a rank reads in each epoch, in order, the same count on every rank: what a
/// ``PrefetchingLoader`` walks through. ``DistributedSampler`` strides a global permutation;
/// ``ShardSampler`` streams whole tar shards through a shuffle buffer.
public protocol EpochSampling: Sendable {
    /// Examples the indices range over.
    var datasetCount: Int { get }
    /// This rank.
    var rank: Int { get }
    /// Indices each rank gets per epoch (the same on every rank).
    var samplesPerRank: Int { get }
    /// How many of this rank's indices are not padding (padding comes after them).
    var realCount: Int { get }
    /// This rank's indices for epoch `epoch`, in order: ``samplesPerRank`` of them.
    func indices(epoch: Int) -> [Int]
}

extension EpochSampling {
    /// Batches per epoch for `batchSize` (the same on every rank): a partial last batch counts
    /// unless `dropLastBatch`.
    public func batchCount(batchSize: Int, dropLastBatch: Bool) -> Int {
        precondition(batchSize >= 1, "batch size \(batchSize)")
        return dropLastBatch ? samplesPerRank / batchSize : (samplesPerRank + batchSize - 1) / batchSize
    }
}
