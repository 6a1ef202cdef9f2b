import Datasets
import Distributed
import Evaluation
import Layers
import Mixing
import Models
import RunConfig
import Tensors

/// What a config makes before the loop starts, the same way for `multimix train`, `eval`, `bench` and
/// `study`: the data, the model, the optimizer and its schedule, and the training step.
///
///     data       = config.makeData()                 (every rank; if one fails, all stop)
///     model      = ResNet(config.model, data's input shape and classes, seed)
///     optimizer  = SGD(model's arena, momentum, nesterov, weight decay);  schedule = warm-up, then cosine / steps
///     step       = TrainingStep(model, the mixing schedule, the mixer's n, alpha, options)
public struct RunSetup {
    public let data: any TrainingData
    /// `eval.ood`'s sets and the noise sets, normalised like `data`.
    public let outOfDistributionSets: [Evaluator.OutOfDistributionSet]
    public let model: ResNet
    public let optimizer: SGD
    public let schedule: LearningRateSchedule
    public let step: TrainingStep

    /// Builds every part from `config`; the data is read on every rank of `consensus` (a failure on
    /// one stops all, the failing ranks saying why).
    public init(_ config: TrainingConfig, consensus: Consensus, convolutionBackend: ConvolutionBackend) throws {
        let communicator = consensus.communicator
        var pipeline: (any TrainingData)? = nil
        var oodSets: [Evaluator.OutOfDistributionSet] = []
        try consensus.allDecide("reading the data") {
            pipeline = try config.makeData()
            if let held = config.data.validationSubset, let trainCount = pipeline!.trainCount, trainCount == 0 {
                throw TrainingError.cannotStart("data.validation_subset: \(held) leaves no training examples; hold out fewer")
            }
            if let shards = pipeline as? ShardPipeline, shards.index.train.shards.count < communicator.size {
                throw TrainingError.cannotStart("data.root: \(config.data.root) holds \(shards.index.train.shards.count) training shard\(shards.index.train.shards.count == 1 ? "" : "s") for \(communicator.size) ranks, and each rank reads whole shards; pack it again with a smaller --shard-mb (at least one shard per rank), or use fewer ranks")
            }
            if pipeline!.trainCount != nil {
                oodSets = try RunSetup.outOfDistributionSets(config, data: pipeline!)
            }
        }
        data = pipeline!
        outOfDistributionSets = oodSets
        guard data.trainCount != nil else {
            throw TrainingError.cannotStart("data.root: \(config.data.root) has no training split; point data.root at the dataset's folder")
        }
        let parts = RunSetup.parts(config, inputChannels: data.inputShape.channels, classCount: data.classCount,
                                   makeConvolution: { convolutionBackend.makeKernel($0) })
        (model, optimizer, schedule, step) = (parts.model, parts.optimizer, parts.schedule, parts.step)
    }

    /// What `config` trains, apart from the data: the model, its optimizer and schedule, and the step.
    public struct Parts {
        public let model: ResNet
        public let optimizer: SGD
        public let schedule: LearningRateSchedule
        public let step: TrainingStep
    }

    /// The parts `config` names, for images of `inputChannels` in `classCount` classes.
    public static func parts(_ config: TrainingConfig, inputChannels: Int, classCount: Int,
                             makeConvolution: @escaping LayerContext.ConvolutionFactory) -> Parts {
        let model = model(config, inputChannels: inputChannels, classCount: classCount, makeConvolution: makeConvolution)
        return Parts(model: model, optimizer: optimizer(config, for: model), schedule: schedule(config), step: step(config, for: model))
    }

    /// The model `config` names, initialised from `config.seed` with convolutions from `makeConvolution`
    /// (`multimix eval` replaces its parameters with a checkpoint's; `bench train` feeds it random images).
    public static func model(_ config: TrainingConfig, inputChannels: Int, classCount: Int,
                             makeConvolution: @escaping LayerContext.ConvolutionFactory) -> ResNet {
        ResNet(name: config.model.name, inputChannels: inputChannels, classCount: classCount,
               width: config.model.width, seed: UInt64(config.seed), makeConvolution: makeConvolution)
    }

    /// SGD over `model`'s arena with `config.optimizer`'s momentum, Nesterov and weight decay.
    public static func optimizer(_ config: TrainingConfig, for model: ResNet) -> SGD {
        SGD(arena: model.arena, configuration: .init(momentum: Float(config.optimizer.momentum), nesterov: config.optimizer.nesterov,
                                                     weightDecay: Float(config.optimizer.weightDecay)))
    }

    /// `optimizer.lr` after `schedule.warmup_epochs` of warm-up, then cosine or steps over `training.epochs`.
    public static func schedule(_ config: TrainingConfig) -> LearningRateSchedule {
        let decay: LearningRateSchedule.Decay = config.schedule.kind == .cosine
            ? .cosine(minimum: 0)
            : .multistep(milestones: config.schedule.milestones.map(Double.init), gamma: config.schedule.gamma)
        return LearningRateSchedule(baseRate: config.optimizer.lr, decay: decay, warmupEpochs: Double(config.schedule.warmupEpochs),
                                    totalEpochs: Double(config.training.epochs))
    }

    /// The training step of `config.mixing` (method, probability, fallback, n, alpha, options) on `model`.
    public static func step(_ config: TrainingConfig, for model: ResNet) -> TrainingStep {
        let alpha: Concentration
        switch config.mixing.alpha {
        case .fixed(let value): alpha = .fixed(value)
        case .uniform(let lower, let upper): alpha = .uniform(lower...upper)
        case .annealed(let from, let to): alpha = .annealed(from: from, to: to)
        }
        return TrainingStep(model: model,
                            schedule: MixingSchedule(method: config.mixing.method, probability: config.mixing.probability,
                                                     fallback: config.mixing.resolvedFallback),
                            mixedCount: config.mixing.n, concentration: alpha, options: config.mixing.multiMixOptions,
                            fallbackConcentration: .fixed(config.mixing.resolvedFallbackAlpha))
    }

    /// The out-of-distribution sets: each of `eval.ood` (metrics `ood_NAME_*`, or `ood_*` for a single
    /// unnamed set), then Gaussian and uniform noise images with the training data's statistics when
    /// `eval.noise_ood_images` > 0 (`ood_gaussian_*`, `ood_uniform_*`), all normalised like the training data.
    static func outOfDistributionSets(_ config: TrainingConfig, data: any TrainingData) throws -> [Evaluator.OutOfDistributionSet] {
        var sets: [Evaluator.OutOfDistributionSet] = []
        for (index, ood) in config.eval.ood.enumerated() {
            sets.append(try Evaluator.outOfDistributionSet(ood, data: data, key: config.eval.oodPath(index)))
        }
        if config.eval.noiseOODImages > 0 {
            for kind in NoiseImages.Kind.allCases {
                let images = NoiseImages.make(kind, count: config.eval.noiseOODImages, shape: data.inputShape, statistics: data.statistics)
                sets.append(.init(name: kind.rawValue, data: DataPipeline.evaluationOnly(images, statistics: data.statistics, source: data.source)))
            }
        }
        return sets
    }
}


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
