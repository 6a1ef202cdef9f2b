/// Everything a trainer needs from the data side, put together once per run: the splits read and
/// checked, the training subset applied, normalisation statistics, and loaders per rank.
///
///     let data = try DataPipeline(source: .resolve("cifar10"))
///     let train = data.trainingLoader(rank: r, worldSize: R, seed: seed, batchSize: 128)
///     for _ in 0..<train.batchesPerEpoch { let batch = train.next()!  … }
///     let test = data.evaluationLoader(rank: r, worldSize: R, batchSize: 500)   // every example once
///
/// Statistics come from the whole training split (not the subset), through the cache
/// (``ChannelStatistics/cached(for:train:cacheDirectory:)``), unless given.
public struct DataPipeline {
    /// Where the data came from.
    public let source: DatasetSource
    /// The training split, less the validation examples, reduced to the subset; nil where the source
    /// has no training split.
    public let train: ImageDataset?
    /// The test split; nil where the source has none.
    public let test: ImageDataset?
    /// The training examples held out for validation (nil: none held out).
    public let validation: ImageDataset?
    /// Normalisation for both splits.
    public let statistics: ChannelStatistics

    /// Reads the splits of `source` that exist and settles the statistics. `validationCount` training
    /// examples (the last ones, balanced per class) are set aside as ``validation`` before `subset`
    /// picks the training examples from the rest.
    /// - Throws: ``DatasetError`` for unreadable data, or when there is no training split and no
    ///   `statistics` were given.
    public init(source: DatasetSource, subset: DatasetSubset = .all, validationCount: Int? = nil,
                statistics: ChannelStatistics? = nil,
                cacheDirectory: String = ChannelStatistics.defaultCacheDirectory()) throws {
        let available = source.availableSplits
        let fullTrain = available.contains(.train) ? try source.load(.train) : nil
        self.source = source
        if let validationCount, let fullTrain {
            let held = DatasetSubset.lastBalanced(count: validationCount).indices(in: fullTrain)
            let heldSet = Set(held)
            validation = fullTrain.subset(held)
            train = subset.apply(to: fullTrain.subset(fullTrain.labels.indices.filter { !heldSet.contains($0) }))
        } else {
            validation = nil
            train = fullTrain.map(subset.apply)
        }
        test = available.contains(.test) ? try source.load(.test) : nil
        if let statistics {
            self.statistics = statistics
        } else if let fullTrain {
            self.statistics = try ChannelStatistics.cached(for: source, train: fullTrain, cacheDirectory: cacheDirectory)
        } else {
            throw DatasetError(.missing, path: source.root,
                               problem: "no training split to compute normalisation statistics from",
                               fix: "add the training files, or give the per-channel mean and std")
        }
        if train == nil && test == nil {
            throw DatasetError(.missing, path: source.root, problem: "no complete split found for \(source.format.displayName)",
                               fix: DatasetError.refetchAdvice)
        }
    }

    private init(source: DatasetSource, train: ImageDataset?, test: ImageDataset?, validation: ImageDataset?,
                 statistics: ChannelStatistics) {
        self.source = source
        self.train = train
        self.test = test
        self.validation = validation
        self.statistics = statistics
    }

    /// A pipeline that only evaluates: `test` is the split, normalised with `statistics` (for sets made
    /// in memory, such as ``NoiseImages``). `source` names where it came from.
    public static func evaluationOnly(_ test: ImageDataset, statistics: ChannelStatistics, source: DatasetSource) -> DataPipeline {
        DataPipeline(source: source, train: nil, test: test, validation: nil, statistics: statistics)
    }

    /// This pipeline with the validation examples in the test split's place, so that whatever
    /// evaluates "the test split" evaluates the validation split; nil when none were held out.
    public var validationAsTest: DataPipeline? {
        validation.map { DataPipeline(source: source, train: train, test: $0, validation: $0, statistics: statistics) }
    }

    /// The usual augmentation for a format: crop and flip for CIFAR, none for digits and clothes.
    public static func defaultAugmentation(for format: DatasetFormat) -> Augmentation {
        format == .idx ? .none : .cifar
    }

    /// The training loader for `rank` of `worldSize`: shuffled per epoch, uneven tail handled by
    /// `tail`, partial last batch dropped, augmented (default: ``defaultAugmentation(for:)``).
    public func trainingLoader(rank: Int, worldSize: Int, seed: UInt64, batchSize: Int,
                               augmentation: Augmentation? = nil, tail: DistributedSampler.Tail = .drop,
                               startEpoch: Int = 0, startStep: Int = 0, endEpoch: Int? = nil) -> PrefetchingLoader {
        guard let train else { preconditionFailure("\(source.root) has no training split") }
        let sampler = DistributedSampler(datasetCount: train.count, worldSize: worldSize, rank: rank,
                                         shuffle: true, seed: seed, tail: tail)
        let assembler = BatchAssembler(dataset: train, statistics: statistics,
                                       augmentation: augmentation ?? DataPipeline.defaultAugmentation(for: source.format),
                                       seed: seed)
        return PrefetchingLoader(assembler: assembler, sampler: sampler, batchSize: batchSize, dropLastBatch: true,
                                 startEpoch: startEpoch, startStep: startStep, endEpoch: endEpoch)
    }

    /// One pass over `split` (default test) for `rank` of `worldSize`: in file order, padded so every
    /// rank runs the same number of batches, partial last batch kept; count only each batch's
    /// ``Batch/realCount`` leading images and every example is counted exactly once across ranks.
    public func evaluationLoader(split: DatasetSplit = .test, rank: Int, worldSize: Int, batchSize: Int) -> PrefetchingLoader {
        guard let dataset = split == .test ? test : train else { preconditionFailure("\(source.root) has no \(split) split") }
        let sampler = DistributedSampler(datasetCount: dataset.count, worldSize: worldSize, rank: rank,
                                         shuffle: false, seed: 0, tail: .pad)
        let assembler = BatchAssembler(dataset: dataset, statistics: statistics, augmentation: .none, seed: 0)
        return PrefetchingLoader(assembler: assembler, sampler: sampler, batchSize: batchSize, dropLastBatch: false,
                                 endEpoch: 1)
    }
}
