/// What training and evaluation read, whatever holds the pixels: the splits' sizes, the model's input
/// shape, the normalisation, and loaders per rank. ``DataPipeline`` serves the built-in benchmarks from
/// memory, ``ImageFolderPipeline`` image folders from files, ``ShardPipeline`` tar shards.
public protocol TrainingData {
    /// Where the data came from.
    var source: DatasetSource { get }
    /// Normalisation of every split.
    var statistics: ChannelStatistics { get }
    /// The shape of every image a loader delivers (the model's input).
    var inputShape: ImageShape { get }
    /// Number of classes.
    var classCount: Int { get }
    /// Training examples (after the validation hold-out and the subset); nil without a training split.
    var trainCount: Int? { get }
    /// Examples of the evaluated split; nil without one.
    var testCount: Int? { get }
    /// This data with the held-out validation examples in the test split's place; nil when none were
    /// held out.
    func validationInPlaceOfTest() -> (any TrainingData)?
    /// The training loader for `rank` of `worldSize` (see ``DataPipeline/trainingLoader(rank:worldSize:seed:batchSize:augmentation:tail:startEpoch:startStep:endEpoch:)``).
    func trainingLoader(rank: Int, worldSize: Int, seed: UInt64, batchSize: Int, augmentation: Augmentation?,
                        tail: DistributedSampler.Tail, startEpoch: Int, startStep: Int, endEpoch: Int?) -> PrefetchingLoader
    /// One pass over the test split for `rank` of `worldSize`, every example counted once across ranks.
    func evaluationLoader(rank: Int, worldSize: Int, batchSize: Int) -> PrefetchingLoader
    /// The order the training loader walks for `rank` of `worldSize` (it counts the steps of an epoch).
    func trainingSampler(rank: Int, worldSize: Int, seed: UInt64) -> any EpochSampling
    /// Whether a global batch is the same examples on any number of ranks (so a mid-epoch checkpoint
    /// can resume on another world size).
    var keepsOrderAcrossWorldSizes: Bool { get }
}

extension TrainingData {
    /// A global permutation per epoch, strided over the ranks, the uneven tail dropped.
    public func trainingSampler(rank: Int, worldSize: Int, seed: UInt64) -> any EpochSampling {
        DistributedSampler(datasetCount: trainCount ?? 0, worldSize: worldSize, rank: rank, shuffle: true, seed: seed, tail: .drop)
    }
    public var keepsOrderAcrossWorldSizes: Bool { true }

    /// The training loader with the usual defaults: the source's augmentation, tail dropped, from the
    /// start, without end.
    public func trainingLoader(rank: Int, worldSize: Int, seed: UInt64, batchSize: Int, augmentation: Augmentation? = nil,
                               startEpoch: Int = 0, startStep: Int = 0, endEpoch: Int? = nil) -> PrefetchingLoader {
        trainingLoader(rank: rank, worldSize: worldSize, seed: seed, batchSize: batchSize, augmentation: augmentation,
                       tail: .drop, startEpoch: startEpoch, startStep: startStep, endEpoch: endEpoch)
    }
}

extension DataPipeline: TrainingData {
    public var inputShape: ImageShape {
        guard let shape = train?.shape ?? test?.shape else { preconditionFailure("\(source.root): no split") }
        return shape
    }
    public var classCount: Int { train?.classCount ?? test?.classCount ?? 0 }
    public var trainCount: Int? { train?.count }
    public var testCount: Int? { test?.count }
    public func validationInPlaceOfTest() -> (any TrainingData)? { validationAsTest }
    public func evaluationLoader(rank: Int, worldSize: Int, batchSize: Int) -> PrefetchingLoader {
        evaluationLoader(split: .test, rank: rank, worldSize: worldSize, batchSize: batchSize)
    }
}
