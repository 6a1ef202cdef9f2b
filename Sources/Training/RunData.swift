import RunConfig
import Datasets

extension TrainingConfig {
    /// The data this config trains and evaluates on: a built-in dataset read into memory
    /// (``DataPipeline``), an image folder read file by file (``ImageFolderPipeline``) or tar shards
    /// read shard by shard (``ShardPipeline``), with the
    /// training subset, the validation hold-out and the normalisation applied. `root` overrides
    /// `data.root` (`multimix eval --data-root`).
    public func makeData(root: String? = nil) throws -> any TrainingData {
        let subset = data.trainSubset.map { DatasetSubset.firstBalanced(count: $0) } ?? .all
        let statistics = data.normalize.map {
            ChannelStatistics(mean: $0.mean.map(Float.init), standardDeviation: $0.std.map(Float.init))
        }
        guard let builtIn = data.dataset.builtIn else {
            var settings = ImageFolderPipeline.Settings(imageSize: data.imageSize)
            if let statistics { settings.statistics = statistics }
            settings.scale = data.augment.scale[0]...data.augment.scale[1]
            settings.ratio = data.augment.ratio[0]...data.augment.ratio[1]
            settings.evalCropFraction = data.evalCropFraction
            settings.cropPadding = data.augment.cropPadding
            settings.horizontalFlip = data.augment.horizontalFlip
            settings.workers = data.workers
            settings.maxImagePixels = data.maxImagePixels
            settings.onBadImage = data.onBadImage
            if data.dataset == .shards {
                return try ShardPipeline(folder: root ?? data.root, settings: settings, shuffleBuffer: data.shuffleBuffer)
            }
            return try ImageFolderPipeline(root: root ?? data.root, subset: subset, validationCount: data.validationSubset,
                                           settings: settings)
        }
        return try DataPipeline(source: DatasetSource(builtIn, root: root ?? data.root), subset: subset,
                                validationCount: data.validationSubset, statistics: statistics)
    }
}
