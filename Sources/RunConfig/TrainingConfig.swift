import Datasets
import Foundation
import Mixing
import Models

/// A training run, as a YAML file: every key of the config with its default.
///
///     name: fashion-mnist-resnet20-multimix
///     seed: 0
///     data: {dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, augment: {crop_padding: 4, horizontal_flip: true}}
///     model: {name: resnet20, width: 1}
///     mixing: {method: multimix, n: 1000, alpha: [0.5, 2], probability: 1}   # fallback: erm, fallback_alpha: 1 when absent
///     optimizer: {lr: 0.1, momentum: 0.9, nesterov: false, weight_decay: 0.0001}
///     schedule: {kind: cosine, warmup_epochs: 0, milestones: [], gamma: 0.1}
///     training: {epochs: 200, batch_size: 128, threads: 1, skip_nonfinite: false, log_every_steps: 50}
///     distributed: {bucket_mb: 4, check_every_steps: 100, stall_timeout_s: 120}
///     eval: {every_epochs: 1, ood: {dataset: cifar100, root: /data/cifar-100-binary}}   # ood optional
///     checkpoint: {every_epochs: 1, keep: 3}
///
/// A file names only what differs from the defaults. Loading (`TrainingConfig+Loading.swift`) is
/// strict: an unknown key is an error naming its path and the valid keys; every value is range-checked
/// (`TrainingConfig+Validation.swift`). The resolved config serialises back to YAML and has a stable
/// hash (`TrainingConfig+Serialisation.swift`).
public struct TrainingConfig: Codable, Equatable, Sendable {
    /// `name`: the run's name; the run folder is `runs/NAME/`. Letters, digits, `.`, `_`, `-`.
    public var name = "multimix"
    /// `seed`: keys the counter-based RNG (with epoch, step, rank and purpose). A non-negative integer.
    public var seed = 0
    /// `data`: what to train on.
    public var data = DataConfig()
    /// `model`: which network.
    public var model = ModelConfig()
    /// `mixing`: how mini-batches are mixed.
    public var mixing = MixingConfig()
    /// `optimizer`: SGD with momentum.
    public var optimizer = OptimizerConfig()
    /// `schedule`: the learning-rate schedule.
    public var schedule = ScheduleConfig()
    /// `training`: epochs, batch size, threads, logging.
    public var training = LoopConfig()
    /// `distributed`: gradient buckets and cross-rank checks.
    public var distributed = DistributedConfig()
    /// `eval`: how often to evaluate, and the optional out-of-distribution set.
    public var eval = EvalConfig()
    /// `checkpoint`: how often to checkpoint and how many to keep.
    public var checkpoint = CheckpointConfig()

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, seed, data, model, mixing, optimizer, schedule, training, distributed, eval, checkpoint
    }
}

/// `data`: the training set and its augmentation.
public struct DataConfig: Codable, Equatable, Sendable {
    /// The datasets this tool reads: the built-in benchmarks and `image-folder` (a ``ConfigChoice`` here).
    public typealias Dataset = DatasetChoice

    /// `data.augment`: training-time augmentation.
    public struct Augment: Codable, Equatable, Sendable {
        /// `data.augment.crop_padding`: random crop after zero-padding by this many pixels (0: none).
        /// Default 4 for the built-in datasets; 0 for `image-folder`, whose training crop is the random
        /// resized crop below (a positive value there resizes each image to `data.image_size` and
        /// pad-crops it instead: small images, CIFAR- or TinyImageNet-like).
        public var cropPadding = 4
        /// `data.augment.horizontal_flip`: flip half the images left–right.
        public var horizontalFlip = true
        /// `data.augment.scale`: image folders: the random resized crop's area fraction range
        /// (torchvision's `scale`), within (0, 1].
        public var scale = [0.08, 1.0]
        /// `data.augment.ratio`: image folders: the random resized crop's aspect ratio range (w / h,
        /// log-uniform; torchvision's `ratio`: 3/4 to 4/3, written with the 15 digits YAML keeps), positive.
        public var ratio = [0.75, 1.33333333333333]
        public init() {}
        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            // Absent: DataConfig's decoder sets the dataset's default.
            cropPadding = try container.decodeIfPresent(Int.self, forKey: .cropPadding) ?? 4
            horizontalFlip = try container.decode(Bool.self, forKey: .horizontalFlip)
            scale = try container.decodeIfPresent([Double].self, forKey: .scale) ?? Augment().scale
            ratio = try container.decodeIfPresent([Double].self, forKey: .ratio) ?? Augment().ratio
        }
        enum CodingKeys: String, CodingKey, CaseIterable {
            case cropPadding = "crop_padding", horizontalFlip = "horizontal_flip", scale, ratio
        }
    }

    /// `data.normalize`: per-channel mean and standard deviation of pixels scaled to [0, 1].
    public struct Normalize: Codable, Equatable, Sendable {
        /// `data.normalize.mean`: one value per channel, in [0, 1].
        public var mean: [Double]
        /// `data.normalize.std`: one value per channel, positive.
        public var std: [Double]
        public init(mean: [Double], std: [Double]) {
            self.mean = mean
            self.std = std
        }
        /// ImageNet's (torchvision's and timm's default): the default for image folders.
        public static let imageNet = Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        enum CodingKeys: String, CodingKey, CaseIterable { case mean, std }
    }

    /// `data.dataset`: fashion-mnist, mnist, cifar10, cifar100, image-folder (your own images:
    /// `data.root/train/CLASS/*.jpg` and `data.root/val/CLASS/*.jpg`), or shards (such a folder packed
    /// by `multimix data pack`: `data.root/index.json` and its tar files).
    public var dataset = Dataset.fashionMNIST
    /// `data.root`: the folder holding the dataset's files. Absent from a config file: the dataset's
    /// default folder, ``defaultRoot(of:)`` (image-folder has none: required). (Set `dataset` and
    /// `root` together when building a config in code.)
    public var root = DataConfig.defaultRoot(of: .fashionMNIST)
    /// `data.train_subset`: train on the first this-many examples only (absent: all), balanced per
    /// class, after the validation examples are set aside. At least 1.
    public var trainSubset: Int?
    /// `data.validation_subset`: hold this many training examples out of training (the last ones in
    /// file order, balanced per class) as a validation split, to choose settings on (`eval.split:
    /// validation`) without looking at the test split (absent: none). At least 1.
    public var validationSubset: Int?
    /// `data.augment`: see ``Augment``.
    public var augment = Augment()
    /// `data.image_size`: image folders: the square side the model sees, in [8, 1024].
    public var imageSize = 224
    /// `data.normalize`: see ``Normalize``. Absent: computed from the training split for the built-in
    /// datasets, ImageNet's for image folders (`multimix data inspect DIR` prints a folder's own).
    public var normalize: Normalize?
    /// `data.eval_crop_fraction`: image folders: evaluation resizes the shorter side to
    /// ⌊image_size / fraction⌋ and takes the centre image_size square (0.875: 224 → 256 → 224). In (0, 1].
    public var evalCropFraction = 0.875
    /// `data.workers`: image folders: decoding threads per rank, in [1, 64].
    public var workers = 1
    /// `data.max_image_pixels`: image folders: a larger image (width × height, from its header) is
    /// refused before it is decoded. Default Pillow's limit, 89478485. In [1, 2³¹].
    public var maxImagePixels = ImageDecoder.defaultMaxPixels
    /// `data.on_bad_image`: image folders: an image that fails to decode during training stops the run
    /// after a checkpoint of the last completed step (`error`, one line naming the file), or is replaced
    /// by the next image of its class and counted as `bad_images` in the metrics (`skip`).
    public var onBadImage = BadImagePolicy.error
    /// `data.shuffle_buffer`: tar shards: examples each rank's shuffle buffer holds while it streams
    /// its shards (1: the packed order), in [1, 1000000].
    public var shuffleBuffer = 1000

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, root, trainSubset = "train_subset", validationSubset = "validation_subset", augment,
             imageSize = "image_size", normalize, evalCropFraction = "eval_crop_fraction", workers,
             maxImagePixels = "max_image_pixels", onBadImage = "on_bad_image", shuffleBuffer = "shuffle_buffer"
    }

    /// Where `data.root` points when a config leaves it out: Fashion-MNIST's Debian package folder,
    /// else the dataset's folder in `.cache/data` (where `launch/setup.sh` unpacks it), relative to
    /// the folder the run starts in, as the shipped configs write it; "" for image-folder (required).
    public static func defaultRoot(of dataset: Dataset) -> String {
        dataset.builtIn?.defaultRoot(dataDirectory: DatasetSource.relativeDataDirectory) ?? ""
    }

    /// The shape of the model's input: the built-in dataset's, or `image_size`² RGB.
    public var inputShape: ImageShape {
        dataset.builtIn?.imageShape ?? ImageShape(height: imageSize, width: imageSize, channels: 3)
    }

    /// Every key after `augment`, and `augment.scale` / `augment.ratio`, is read with its default when
    /// absent and written only for image folders and shards (or when given, for `normalize`;
    /// `shuffle_buffer` for shards only): configs of the built-in datasets and image folders
    /// serialise, hash and resume as before these keys existed.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        dataset = try container.decode(Dataset.self, forKey: .dataset)
        root = try container.decodeIfPresent(String.self, forKey: .root) ?? Self.defaultRoot(of: dataset)
        trainSubset = try container.decodeIfPresent(Int.self, forKey: .trainSubset)
        validationSubset = try container.decodeIfPresent(Int.self, forKey: .validationSubset)
        augment = try container.decode(Augment.self, forKey: .augment)
        // crop_padding's default depends on the dataset: left out of the defaults, filled in here.
        let augmentKeys = try container.nestedContainer(keyedBy: Augment.CodingKeys.self, forKey: .augment)
        augment.cropPadding = try augmentKeys.decodeIfPresent(Int.self, forKey: .cropPadding) ?? (dataset.builtIn == nil ? 0 : 4)
        let defaults = DataConfig()
        imageSize = try container.decodeIfPresent(Int.self, forKey: .imageSize) ?? defaults.imageSize
        normalize = try container.decodeIfPresent(Normalize.self, forKey: .normalize)
        evalCropFraction = try container.decodeIfPresent(Double.self, forKey: .evalCropFraction) ?? defaults.evalCropFraction
        workers = try container.decodeIfPresent(Int.self, forKey: .workers) ?? defaults.workers
        maxImagePixels = try container.decodeIfPresent(Int.self, forKey: .maxImagePixels) ?? defaults.maxImagePixels
        onBadImage = try container.decodeIfPresent(BadImagePolicy.self, forKey: .onBadImage) ?? defaults.onBadImage
        shuffleBuffer = try container.decodeIfPresent(Int.self, forKey: .shuffleBuffer) ?? defaults.shuffleBuffer
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dataset, forKey: .dataset)
        try container.encode(root, forKey: .root)
        try container.encodeIfPresent(trainSubset, forKey: .trainSubset)
        try container.encodeIfPresent(validationSubset, forKey: .validationSubset)
        var augmentKeys = container.nestedContainer(keyedBy: Augment.CodingKeys.self, forKey: .augment)
        try augmentKeys.encode(augment.cropPadding, forKey: .cropPadding)
        try augmentKeys.encode(augment.horizontalFlip, forKey: .horizontalFlip)
        try container.encodeIfPresent(normalize, forKey: .normalize)
        guard dataset.builtIn == nil else { return }
        try augmentKeys.encode(augment.scale, forKey: .scale)
        try augmentKeys.encode(augment.ratio, forKey: .ratio)
        try container.encode(imageSize, forKey: .imageSize)
        try container.encode(evalCropFraction, forKey: .evalCropFraction)
        try container.encode(workers, forKey: .workers)
        try container.encode(maxImagePixels, forKey: .maxImagePixels)
        try container.encode(onBadImage, forKey: .onBadImage)
        if dataset == .shards { try container.encode(shuffleBuffer, forKey: .shuffleBuffer) }
    }
}

/// `model`: the network, by name.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// The networks of the ResNet family this tool builds: the Models module's list (a ``ConfigChoice`` here).
    public typealias Name = ResNetSpecification.Name

    /// `model.name`: resnet20, resnet32, resnet56, resnet110, preactresnet18, preactresnet34, wrn16-8,
    /// resnet18 or resnet50.
    public var name = Name.resnet20
    /// `model.width`: multiplies every layer's channel count (rounded, at least 1). Positive; 1 is the
    /// published network.
    public var width = 1.0

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable { case name, width }
}

/// `mixing`: how each rank mixes its local mini-batch.
public struct MixingConfig: Codable, Equatable, Sendable {
    /// The mixing methods: the Mixing module's list (a ``ConfigChoice`` here).
    public typealias Method = MixingMethod

    /// `mixing.alpha`: the Beta/Dirichlet concentration, a number (`1.0`), a range (`[0.5, 2.0]`) from
    /// which it is drawn uniformly per step, as MultiMix does, or a schedule (`{from: 0.2, to: 2.0}`),
    /// moved geometrically from the first value to the second over training.
    public enum Alpha: Codable, Equatable, Sendable, CustomStringConvertible {
        /// One value.
        case fixed(Double)
        /// Drawn uniformly from [lower, upper] each step.
        case uniform(lower: Double, upper: Double)
        /// α = from·(to/from)^p at the fraction p of training done.
        case annealed(from: Double, to: Double)

        private struct Schedule: Codable { var from: Double; var to: Double }

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Double.self) {
                self = .fixed(value)
                return
            }
            if let schedule = try? container.decode(Schedule.self) {
                self = .annealed(from: schedule.from, to: schedule.to)
                return
            }
            let path = ConfigPath.string(decoder.codingPath)
            guard let bounds = try? container.decode([Double].self) else {
                throw ConfigError(.wrongType, path: path, problem: "expected a number, a list [lo, hi] or {from: a, to: b}",
                                  fix: "write e.g. alpha: 1.0, alpha: [0.5, 2.0] or alpha: {from: 0.2, to: 2.0}")
            }
            guard bounds.count == 2 else {
                throw ConfigError(.badValue, path: path, problem: "a range needs 2 numbers, got \(bounds.count)",
                                  fix: "write alpha: [lo, hi]")
            }
            self = .uniform(lower: bounds[0], upper: bounds[1])
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .fixed(let value): try container.encode(value)
            case .uniform(let lower, let upper): try container.encode([lower, upper])
            case .annealed(let from, let to): try container.encode(Schedule(from: from, to: to))
            }
        }

        public var description: String {
            switch self {
            case .fixed(let value): return "\(value)"
            case .uniform(let lower, let upper): return "[\(lower), \(upper)]"
            case .annealed(let from, let to): return "{from: \(from), to: \(to)}"
            }
        }
    }

    /// `mixing.method`: erm, mixup, cutmix, manifold-mixup, multimix or dense-multimix.
    public var method = Method.multimix
    /// `mixing.n`: mixed examples generated per step on each rank (MultiMix's n). At least 1.
    public var n = 1000
    /// `mixing.alpha`: see ``Alpha``. Positive.
    public var alpha = Alpha.uniform(lower: 0.5, upper: 2.0)
    /// `mixing.probability`: the chance that a step uses `mixing.method` (otherwise `mixing.fallback`). In [0, 1].
    public var probability = 1.0
    /// `mixing.fallback`: what the other steps do: `erm` (plain ERM) or `mixup` (input mixup, λ ~
    /// Beta(fallback_alpha, fallback_alpha)). `probability: 0.5, fallback: mixup` is the authors' alternation.
    /// Absent: erm (absent rather than written out, so the configs of runs made before the key have
    /// the same hash: their studies' finished runs stay finished).
    public var fallback: MixingFallback?
    /// `mixing.fallback_alpha`: α of the fallback's input mixup. Positive; absent: 1.
    public var fallbackAlpha: Double?
    /// `mixing.m`: MultiMix and Dense MultiMix interpolate a random m-subset of the b examples per
    /// mixed example (absent: all b, the paper's). In [1, training.batch_size].
    public var m: Int?
    /// `mixing.loss_scale`: `mean` (the paper's mean over the n mixed examples) or `erm-matched` (the
    /// mixed loss scaled so each example's pull toward its class matches ERM's; README, "Why MultiMix
    /// learns slowly").
    public var lossScale = MixedLossScale.mean
    /// `mixing.clean_loss_weight`: w of a cross-entropy on the un-mixed batch added to the mixed loss
    /// (MultiMix and Dense MultiMix; 0: none, the paper's). At least 0.
    public var cleanLossWeight = 0.0
    /// `mixing.attention`: Dense MultiMix's attention, `relu-l1` (the paper's) or `softmax`.
    public var attention = DenseMultiMix.AttentionNormalisation.reluL1

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case method, n, alpha, probability, fallback, fallbackAlpha = "fallback_alpha", m, lossScale = "loss_scale"
        case cleanLossWeight = "clean_loss_weight", attention
    }

    /// The fallback, `erm` when absent.
    public var resolvedFallback: MixingFallback { fallback ?? .erm }
    /// The fallback's α, 1 when absent.
    public var resolvedFallbackAlpha: Double { fallbackAlpha ?? 1 }

    /// The MultiMix knobs as the mixers take them.
    public var multiMixOptions: MultiMixOptions {
        MultiMixOptions(examplesPerMix: m, lossScale: lossScale, cleanLossWeight: cleanLossWeight, attention: attention)
    }
}

/// `optimizer`: SGD with momentum and L2 weight decay.
public struct OptimizerConfig: Codable, Equatable, Sendable {
    /// `optimizer.lr`: the peak learning rate. Positive.
    public var lr = 0.1
    /// `optimizer.momentum`: in [0, 1).
    public var momentum = 0.9
    /// `optimizer.nesterov`: Nesterov momentum (needs momentum > 0).
    public var nesterov = false
    /// `optimizer.weight_decay`: L2 penalty added to the gradient. At least 0.
    public var weightDecay = 1e-4

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case lr, momentum, nesterov, weightDecay = "weight_decay"
    }
}

/// `schedule`: the learning rate against epochs.
public struct ScheduleConfig: Codable, Equatable, Sendable {
    /// The schedule shapes.
    public enum Kind: String, ConfigChoice {
        /// Cosine decay from `lr` to 0 over the epochs after warm-up.
        case cosine
        /// `lr` times `gamma` at each milestone epoch.
        case multistep
        public static let noun = "schedule kind"
    }

    /// `schedule.kind`: cosine or multistep.
    public var kind = Kind.cosine
    /// `schedule.warmup_epochs`: linear warm-up from 0 over this many epochs. At least 0, below `training.epochs`.
    public var warmupEpochs = 0
    /// `schedule.milestones`: for multistep, the epochs at which the rate is multiplied by `gamma`;
    /// strictly increasing, each in 1...`training.epochs`.
    public var milestones: [Int] = []
    /// `schedule.gamma`: the multistep factor. In (0, 1].
    public var gamma = 0.1

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, warmupEpochs = "warmup_epochs", milestones, gamma
    }
}

/// `training`: the loop's sizes, per rank.
public struct LoopConfig: Codable, Equatable, Sendable {
    /// `training.epochs`: passes over the training set. At least 1.
    public var epochs = 200
    /// `training.batch_size`: examples per step on each rank (the global batch is this × ranks). At least 1.
    public var batchSize = 128
    /// `training.threads`: compute threads per rank. At least 1.
    public var threads = 1
    /// `training.skip_nonfinite`: when a step's loss or gradient is NaN or infinite, skip the step
    /// (true) or stop the run naming the step (false, the default).
    public var skipNonfinite = false
    /// `training.log_every_steps`: a `metrics.jsonl` line and a progress line every this many steps. At least 1.
    public var logEverySteps = 50

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, batchSize = "batch_size", threads, skipNonfinite = "skip_nonfinite",
             logEverySteps = "log_every_steps"
    }
}

/// `distributed`: gradient all-reduce and cross-rank safety checks.
public struct DistributedConfig: Codable, Equatable, Sendable {
    /// `distributed.bucket_mb`: gradient bucket size in MiB; each bucket is all-reduced as soon as
    /// backward completes it. Positive.
    public var bucketMB = 4.0
    /// `distributed.check_every_steps`: compare a parameter checksum across ranks every this many
    /// steps (0: never).
    public var checkEverySteps = 100
    /// `distributed.stall_timeout_s`: seconds a collective may wait before the ranks that have not
    /// arrived are named. Positive.
    public var stallTimeoutS = 120.0
    /// `distributed.stall_abort_s`: seconds a gradient all-reduce may wait before the job is ended
    /// (a rank that died, hangs or stopped early would otherwise leave the others waiting forever;
    /// 0: wait forever). At least 0.
    public var stallAbortS = 600.0
    /// `distributed.on_world_size_change`: what a run resumed on another number of ranks keeps.
    public var onWorldSizeChange = WorldSizeChange.keepGlobalBatch

    /// Resuming on W′ ranks a checkpoint written by W (a requeued job that got fewer nodes, a user who
    /// added some). The learning rate in the config is for the run's first global batch B₀.
    public enum WorldSizeChange: String, ConfigChoice {
        /// The global batch B₀ stays, split B₀/W′ per rank (refused when W′ does not divide B₀):
        /// same steps, same learning rates, same examples per step as the run that did not change.
        case keepGlobalBatch = "keep-global-batch"
        /// `training.batch_size` stays per rank, so the global batch becomes b·W′, and the learning
        /// rate is scaled by b·W′/B₀ (the linear scaling rule); the epoch's position is kept in examples.
        case keepRankBatch = "keep-rank-batch"

        public static let noun = "world size change policy"
    }

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case bucketMB = "bucket_mb", checkEverySteps = "check_every_steps", stallTimeoutS = "stall_timeout_s",
             stallAbortS = "stall_abort_s", onWorldSizeChange = "on_world_size_change"
    }
}

/// `eval`: evaluation on the test split, and optional out-of-distribution detection.
public struct EvalConfig: Codable, Equatable, Sendable {
    /// An entry of `eval.ood`: an out-of-distribution set, scored by maximum softmax probability.
    public struct OOD: Codable, Equatable, Sendable {
        /// `eval.ood[i].name`: the set's name in the metric keys (`ood_NAME_auroc`, …): letters, digits,
        /// `-` and `_`. Required when `eval.ood` lists several sets; "" (absent) for one gives the plain
        /// `ood_auroc`, … of configs written before the list.
        public var name: String
        /// `eval.ood[i].dataset`: a built-in dataset other than `data.dataset`, with the model's input
        /// shape; or `image-folder`: every image below `root` (flat `ROOT/*.jpg` or nested
        /// `ROOT/ANY/*.jpg`, no classes), transformed as the evaluated split's images (image folders:
        /// resize and centre crop; built-in data: the whole image resized to the model's input).
        public var dataset: DatasetChoice
        /// `eval.ood[i].root`: its folder.
        public var root: String

        public init(name: String = "", dataset: DatasetChoice, root: String) {
            self.name = name
            self.dataset = dataset
            self.root = root
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
            dataset = try container.decode(DatasetChoice.self, forKey: .dataset)
            root = try container.decode(String.self, forKey: .root)
        }

        /// `name` only when given: an unnamed set serialises (and hashes) as before names existed.
        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            if !name.isEmpty { try container.encode(name, forKey: .name) }
            try container.encode(dataset, forKey: .dataset)
            try container.encode(root, forKey: .root)
        }

        /// Why `name` cannot name a set, or nil: letters, digits, `-` and `_`, not a name the noise
        /// sets or the in-distribution histogram already use.
        public static func problem(withName name: String) -> String? {
            guard !name.isEmpty, name.count <= 64,
                  name.unicodeScalars.allSatisfy({ ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "-" || $0 == "_" }) else {
                return "use 1 to 64 letters, digits, - and _"
            }
            guard !reservedNames.contains(name) else { return "\(name) is taken by \(name == OOD.inDistributionName ? "the evaluated split" : "eval.noise_ood_images"); choose another name" }
            return nil
        }

        /// The name of the evaluated split's own scores (its histogram in `eval-details.json`).
        public static let inDistributionName = "in_distribution"

        static let reservedNames: Set<String> = ["gaussian", "uniform", OOD.inDistributionName]

        /// The sets of `multimix eval --ood`, each `NAME` or `NAME=ROOT`: a built-in dataset's name (its
        /// default folder without ROOT: in `$MULTIMIX_DATA_DIR` or the `.cache/data` found, as before), or any other name for the image folder at ROOT. A single
        /// built-in set keeps the plain metric keys (`ood_auroc`, …); otherwise each set's are
        /// `ood_NAME_*`. Throws a one-line message naming `--ood` and the fix.
        public static func parseCommandLine(_ values: [String]) throws -> [OOD] {
            var sets: [OOD] = []
            for value in values {
                let parts = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let name = parts[0], root = parts.count > 1 ? parts[1] : nil
                if let problem = problem(withName: name) {
                    throw UsageError("--ood \(value): '\(name)' cannot name a set; \(problem)")
                }
                guard !sets.contains(where: { $0.name == name }) else {
                    throw UsageError("--ood \(value): the name \(name) is given twice; give each set its own name")
                }
                if let dataset = DatasetChoice(rawValue: name), dataset.builtIn != nil {
                    guard root != "" else {
                        throw UsageError("--ood \(value): no folder after '='; write --ood \(name) or --ood \(name)=ROOT")
                    }
                    sets.append(OOD(name: name, dataset: dataset, root: root ?? DatasetSource(dataset.builtIn!).root))
                } else {
                    guard let root, !root.isEmpty else {
                        throw UsageError("--ood \(value): \(name) is not a built-in dataset (\(DatasetName.choices)); for a folder of images give --ood \(name)=ROOT")
                    }
                    sets.append(OOD(name: name, dataset: .imageFolder, root: root))
                }
            }
            if sets.count == 1, sets[0].dataset.builtIn != nil { sets[0].name = "" }
            return sets
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case name, dataset, root }
    }

    /// Which split the evaluation runs on.
    public enum Split: String, ConfigChoice {
        /// The dataset's test split: report it once, for the settings already chosen.
        case test
        /// The examples `data.validation_subset` held out of training: choose settings here.
        case validation
        public static let noun = "evaluation split"
    }

    /// `eval.baseline`: a reference figure the report shows beside the run's own (a line on the
    /// accuracy plot and a row of the final table): what the same budget gives another method.
    public struct Baseline: Codable, Equatable, Sendable {
        /// `eval.baseline.label`: what the figure is, e.g. "ERM, same budget (configs/studies/…, 3 seeds)".
        public var label: String
        /// `eval.baseline.top1`: its top-1 accuracy, in [0, 1].
        public var top1: Double

        public init(label: String, top1: Double) {
            self.label = label
            self.top1 = top1
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case label, top1 }
    }

    /// `eval.every_epochs`: evaluate every this many epochs (and after the last). At least 1.
    public var everyEpochs = 1
    /// `eval.split`: `test` (default) or `validation` (needs `data.validation_subset`).
    public var split = Split.test
    /// `eval.noise_ood_images`: also score this many Gaussian and this many uniform noise images with
    /// the training data's per-channel mean and std as out-of-distribution sets (0: none). In [0, 100000].
    public var noiseOODImages = 0
    /// `eval.ood`: the out-of-distribution sets, a list of ``OOD`` (one may be written as a mapping,
    /// the form of configs written before the list); empty (absent) for no OOD evaluation.
    public var ood: [OOD] = []
    /// `eval.baseline`: absent for none.
    public var baseline: Baseline?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable { case everyEpochs = "every_epochs", split, noiseOODImages = "noise_ood_images", ood, baseline }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        everyEpochs = try container.decode(Int.self, forKey: .everyEpochs)
        split = try container.decode(Split.self, forKey: .split)
        noiseOODImages = try container.decode(Int.self, forKey: .noiseOODImages)
        if (try? container.nestedUnkeyedContainer(forKey: .ood)) != nil {
            ood = try container.decode([OOD].self, forKey: .ood)
        } else {
            ood = try container.decodeIfPresent(OOD.self, forKey: .ood).map { [$0] } ?? []
        }
        baseline = try container.decodeIfPresent(Baseline.self, forKey: .baseline)
    }

    /// One OOD set is written as a mapping, as before the list: its config serialises and hashes as
    /// it did. None: no key.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(everyEpochs, forKey: .everyEpochs)
        try container.encode(split, forKey: .split)
        try container.encode(noiseOODImages, forKey: .noiseOODImages)
        if ood.count == 1 {
            try container.encode(ood[0], forKey: .ood)
        } else if !ood.isEmpty {
            try container.encode(ood, forKey: .ood)
        }
        try container.encodeIfPresent(baseline, forKey: .baseline)
    }

    /// The key path of OOD set `index` in messages: `eval.ood` for a single set, `eval.ood[i]` in a list.
    public func oodPath(_ index: Int) -> String { ood.count == 1 ? "eval.ood" : "eval.ood[\(index)]" }
}

/// `checkpoint`: rank 0's checkpoints in `runs/NAME/checkpoints/`.
public struct CheckpointConfig: Codable, Equatable, Sendable {
    /// `checkpoint.every_epochs`: checkpoint every this many epochs (and after the last). At least 1.
    public var everyEpochs = 1
    /// `checkpoint.keep`: how many checkpoints to keep, newest first. At least 1.
    public var keep = 3

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable { case everyEpochs = "every_epochs", keep }
}
