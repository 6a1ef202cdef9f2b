/// An image folder (``ImageFolderListing``) ready to train on: the training split less the held-out
/// validation examples, reduced to the subset; `val/` as the evaluated split; and the loaders, which
/// decode files as batches are needed (``ImageFileAssembler``).
///
///     let data = try ImageFolderPipeline(root: "/data/imagenet", settings: .init(imageSize: 224))
///     let train = data.trainingLoader(rank: r, worldSize: R, seed: 0, batchSize: 64)
public struct ImageFolderPipeline: TrainingData {
    /// How images become the model's input.
    public struct Settings: Equatable, Sendable {
        /// The square side the model sees.
        public var imageSize: Int
        /// Normalisation (default ImageNet's).
        public var statistics = ChannelStatistics(mean: [0.485, 0.456, 0.406], standardDeviation: [0.229, 0.224, 0.225])
        /// The random resized crop's area fraction and aspect ratio ranges.
        public var scale: ClosedRange<Double> = 0.08...1
        public var ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3)
        /// Evaluation: shorter side to ⌊imageSize / fraction⌋, then the centre crop.
        public var evalCropFraction = 0.875
        /// Above 0: resize to imageSize², then pad and crop by this much (small images) instead of the
        /// random resized crop.
        public var cropPadding = 0
        public var horizontalFlip = true
        public var workers = 1
        public var maxImagePixels = ImageDecoder.defaultMaxPixels
        public var onBadImage = BadImagePolicy.error

        public init(imageSize: Int) { self.imageSize = imageSize }

        /// The training transform.
        public var trainingTransform: ImageTransform {
            ImageTransform(size: imageSize, geometry: cropPadding > 0 ? .resize : .randomResizedCrop(scale: scale, ratio: ratio),
                           horizontalFlip: horizontalFlip, cropPadding: cropPadding)
        }
        /// The evaluation transform: the centre crop, or (small images) the whole image resized.
        public var evaluationTransform: ImageTransform {
            ImageTransform(size: imageSize, geometry: cropPadding > 0 ? .resize : .centerCrop(fraction: evalCropFraction))
        }
    }

    public let source: DatasetSource
    public let listing: ImageFolderListing
    public let settings: Settings
    /// Training examples (the listing requires `train/`).
    public let train: ImageFileList
    /// `val/`, or the held-out validation examples when evaluating on them.
    public let test: ImageFileList?
    /// The held-out training examples (nil: none held out).
    public let validation: ImageFileList?

    /// Lists `root` and prepares the splits (see ``DataPipeline/init(source:subset:validationCount:statistics:cacheDirectory:)``
    /// for `subset` and `validationCount`).
    public init(root: String, subset: DatasetSubset = .all, validationCount: Int? = nil, settings: Settings) throws {
        let listing = try ImageFolderListing(root: root)
        var train = listing.train
        var validation: ImageFileList? = nil
        if let validationCount {
            let held = DatasetSubset.lastBalanced(count: validationCount).indices(in: train)
            let heldSet = Set(held)
            validation = train.subset(held)
            train = train.subset(train.labels.indices.filter { !heldSet.contains($0) })
        }
        self.init(listing: listing, train: subset.apply(to: train), test: listing.validation, validation: validation,
                  settings: settings)
    }

    private init(listing: ImageFolderListing, train: ImageFileList, test: ImageFileList?, validation: ImageFileList?,
                 settings: Settings) {
        self.listing = listing
        source = DatasetSource(format: .imageFolder, root: listing.root)
        self.train = train
        self.test = test
        self.validation = validation
        self.settings = settings
    }

    public var statistics: ChannelStatistics { settings.statistics }
    public var inputShape: ImageShape { ImageShape(height: settings.imageSize, width: settings.imageSize, channels: 3) }
    public var classCount: Int { listing.classNames.count }
    public var trainCount: Int? { train.count }
    public var testCount: Int? { test?.count }

    public func validationInPlaceOfTest() -> (any TrainingData)? {
        validation.map { ImageFolderPipeline(listing: listing, train: train, test: $0, validation: $0, settings: settings) }
    }

    /// Shuffled per epoch; `augmentation` is unused (the settings' transforms apply).
    public func trainingLoader(rank: Int, worldSize: Int, seed: UInt64, batchSize: Int, augmentation: Augmentation?,
                               tail: DistributedSampler.Tail, startEpoch: Int, startStep: Int, endEpoch: Int?) -> PrefetchingLoader {
        let sampler = DistributedSampler(datasetCount: train.count, worldSize: worldSize, rank: rank, shuffle: true, seed: seed, tail: tail)
        return PrefetchingLoader(assembler: assembler(train, isTraining: true, seed: seed), sampler: sampler, batchSize: batchSize,
                                 dropLastBatch: true, startEpoch: startEpoch, startStep: startStep, endEpoch: endEpoch)
    }

    public func evaluationLoader(rank: Int, worldSize: Int, batchSize: Int) -> PrefetchingLoader {
        guard let test else { preconditionFailure("\(listing.root) has no val/ split") }
        let sampler = DistributedSampler(datasetCount: test.count, worldSize: worldSize, rank: rank, shuffle: false, seed: 0, tail: .pad)
        return PrefetchingLoader(assembler: assembler(test, isTraining: false, seed: 0), sampler: sampler, batchSize: batchSize,
                                 dropLastBatch: false, endEpoch: 1)
    }

    /// The assembler over `files`; evaluation never skips a bad image (it would change the metric
    /// silently): it reports it.
    public func assembler(_ files: ImageFileList, isTraining: Bool, seed: UInt64) -> ImageFileAssembler {
        Self.assembler(files, settings: settings, isTraining: isTraining, seed: seed, onBadImage: isTraining ? settings.onBadImage : .error)
    }

    /// The assembler over `files` with `settings` (`onBadImage`: the settings' unless given).
    public static func assembler(_ files: ImageFileList, settings: Settings, isTraining: Bool, seed: UInt64,
                                 onBadImage: BadImagePolicy? = nil) -> ImageFileAssembler {
        ImageFileAssembler(files: files, transform: isTraining ? settings.trainingTransform : settings.evaluationTransform,
                           statistics: settings.statistics, isTraining: isTraining, seed: seed, workers: settings.workers,
                           onBadImage: onBadImage ?? settings.onBadImage, maxImagePixels: settings.maxImagePixels)
    }
}
