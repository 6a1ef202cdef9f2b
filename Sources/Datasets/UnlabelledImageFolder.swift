/// A folder of images without classes, scored as an out-of-distribution set: every image below
/// `ROOT` (``ImageFolderListing/unlabelledImages(in:)``), decoded, transformed as the evaluated split
/// of the training data is (`transform`: an image folder's evaluation transform, or the whole image
/// resized to a built-in dataset's input) and normalised with the training data's statistics.
///
///     let lsun = try UnlabelledImageFolder(root: ".cache/data/lsun-crop",
///                                          transform: ImageTransform(size: 32, geometry: .resize), statistics: cifar)
public struct UnlabelledImageFolder: TrainingData {
    public let source: DatasetSource
    /// The images, each labelled 0.
    public let files: ImageFileList
    public let transform: ImageTransform
    public let statistics: ChannelStatistics
    public let workers: Int
    public let maxImagePixels: Int

    /// Lists `root`; throws ``DatasetError`` for a missing folder or one without images.
    public init(root: String, transform: ImageTransform, statistics: ChannelStatistics, workers: Int = 1,
                maxImagePixels: Int = ImageDecoder.defaultMaxPixels) throws {
        precondition(statistics.mean.count == 3, "image folders are RGB: 3 channel statistics, got \(statistics.mean.count)")
        files = try ImageFolderListing.unlabelledImages(in: root)
        source = DatasetSource(format: .imageFolder, root: root)
        self.transform = transform
        self.statistics = statistics
        self.workers = workers
        self.maxImagePixels = maxImagePixels
    }

    public var inputShape: ImageShape { ImageShape(height: transform.size, width: transform.size, channels: 3) }
    /// No classes: the model's are the training data's.
    public var classCount: Int { 0 }
    public var trainCount: Int? { nil }
    public var testCount: Int? { files.count }
    public func validationInPlaceOfTest() -> (any TrainingData)? { nil }

    public func trainingLoader(rank: Int, worldSize: Int, seed: UInt64, batchSize: Int, augmentation: Augmentation?,
                               tail: DistributedSampler.Tail, startEpoch: Int, startStep: Int, endEpoch: Int?) -> PrefetchingLoader {
        preconditionFailure("\(source.root): an out-of-distribution folder is evaluated, never trained on")
    }

    /// Every image once across the ranks; a file that cannot be decoded is an error naming it.
    public func evaluationLoader(rank: Int, worldSize: Int, batchSize: Int) -> PrefetchingLoader {
        let sampler = DistributedSampler(datasetCount: files.count, worldSize: worldSize, rank: rank, shuffle: false, seed: 0, tail: .pad)
        let assembler = ImageFileAssembler(files: files, transform: transform, statistics: statistics, isTraining: false, seed: 0,
                                           workers: workers, onBadImage: .error, maxImagePixels: maxImagePixels)
        return PrefetchingLoader(assembler: assembler, sampler: sampler, batchSize: batchSize, dropLastBatch: false, endEpoch: 1)
    }
}
