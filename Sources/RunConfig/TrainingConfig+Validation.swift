import Datasets
import Foundation
import Tensors

extension TrainingConfig {
    /// The image-folder keys (checked whatever the dataset, so a typo fails early).
    private func validateImageFolderSettings() throws {
        try require((8...1024).contains(data.imageSize), "data.image_size", data.imageSize, "use an integer in [8, 1024]")
        let scale = data.augment.scale, ratio = data.augment.ratio
        try require(scale.count == 2 && scale.allSatisfy { $0.isFinite } && scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1,
                    "data.augment.scale", scale, "use [lo, hi] with 0 < lo ≤ hi ≤ 1 (torchvision's default [0.08, 1])")
        try require(ratio.count == 2 && ratio.allSatisfy { $0.isFinite } && ratio[0] > 0 && ratio[0] <= ratio[1] && ratio[1] <= 100,
                    "data.augment.ratio", ratio, "use [lo, hi] with 0 < lo ≤ hi ≤ 100 (torchvision's default [0.75, 1.3333])")
        if let normalize = data.normalize {
            let channels = data.inputShape.channels
            try require(normalize.mean.count == channels && normalize.mean.allSatisfy { $0.isFinite && (0...1).contains($0) },
                        "data.normalize.mean", normalize.mean, "give \(channels) values in [0, 1], one per channel")
            try require(normalize.std.count == channels && normalize.std.allSatisfy { $0.isFinite && $0 >= 1e-4 && $0 <= 10 },
                        "data.normalize.std", normalize.std, "give \(channels) values in [0.0001, 10], one per channel")
        }
        try require(data.evalCropFraction.isFinite && data.evalCropFraction > 0.1 && data.evalCropFraction <= 1,
                    "data.eval_crop_fraction", data.evalCropFraction, "use a number in (0.1, 1] (0.875: resize to 256, crop 224)")
        try require((1...64).contains(data.workers), "data.workers", data.workers, "use an integer in [1, 64]")
        try require((1...(1 << 31)).contains(data.maxImagePixels), "data.max_image_pixels", data.maxImagePixels,
                    "use an integer in [1, 2147483648]")
        try require((1...1_000_000).contains(data.shuffleBuffer), "data.shuffle_buffer", data.shuffleBuffer,
                    "use an integer in [1, 1000000] (examples per rank held for shuffling; 1: the packed order)")
        if data.dataset == .shards {
            try require(data.trainSubset == nil, "data.train_subset", data.trainSubset ?? 0,
                        "remove it: tar shards train on every packed example (pack a smaller folder instead)")
            try require(data.validationSubset == nil, "data.validation_subset", data.validationSubset ?? 0,
                        "remove it: tar shards evaluate on their val shards (pack the held-out images as val/ instead)")
        }
    }

    /// Range-checks every value; throws a one-line ``ConfigError`` naming the first bad key path, its
    /// value and what is allowed. Pure: it does not look at the disk (the trainer checks that the
    /// data folders exist and hold the named dataset).
    public func validate() throws {
        try require(TrainingConfig.isFolderName(name), "name", "\"\(name)\"", "use 1 to 200 letters, digits, '.', '_' and '-' (it names the run folder)")
        try require(seed >= 0, "seed", seed, "use an integer ≥ 0")

        try require(!data.root.isEmpty, "data.root", "\"\"", data.dataset == .imageFolder
                    ? "give the folder holding train/CLASS/*.jpg (and val/CLASS/*.jpg)"
                    : data.dataset == .shards ? "give the folder `multimix data pack` wrote (index.json and the tar files)" : "give the dataset folder")
        if let subset = data.trainSubset { try require(subset >= 1, "data.train_subset", subset, "use an integer ≥ 1, or remove the key for all examples") }
        if let held = data.validationSubset { try require(held >= 1, "data.validation_subset", held, "use an integer ≥ 1, or remove the key for no validation split") }
        try require(eval.split == .test || data.validationSubset != nil, "eval.split", eval.split,
                    "set data.validation_subset to hold examples out for validation, or use eval.split: test")
        try require((0...16).contains(data.augment.cropPadding), "data.augment.crop_padding", data.augment.cropPadding, "use an integer in [0, 16]")
        try validateImageFolderSettings()

        try require(model.width.isFinite && model.width > 0 && model.width <= 64, "model.width", model.width, "use a number in (0, 64]")

        try require(mixing.n >= 1 && mixing.n <= 100_000, "mixing.n", mixing.n, "use an integer in [1, 100000]")
        // Dirichlet concentrations past 1000 mix every example equally (and huge ones overflow the
        // Gamma sampler, giving exactly 0 losses): bounded like the rest.
        let alphas = 0.0...1000.0
        switch mixing.alpha {
        case .fixed(let alpha):
            try require(alpha > 0 && alphas.contains(alpha), "mixing.alpha", alpha, "use a number in (0, 1000], or a range [lo, hi] with 0 < lo ≤ hi ≤ 1000")
        case .uniform(let lower, let upper):
            try require(lower > 0 && lower <= upper && alphas.contains(lower) && alphas.contains(upper), "mixing.alpha", mixing.alpha,
                        "use a range [lo, hi] with 0 < lo ≤ hi ≤ 1000")
        case .annealed(let from, let to):
            try require(from > 0 && to > 0 && alphas.contains(from) && alphas.contains(to), "mixing.alpha", mixing.alpha,
                        "use {from: a, to: b} with a, b in (0, 1000]")
        }
        try require(mixing.probability.isFinite && (0...1).contains(mixing.probability), "mixing.probability", mixing.probability, "use a number in [0, 1]")
        if let alpha = mixing.fallbackAlpha {
            try require(alpha > 0 && alphas.contains(alpha), "mixing.fallback_alpha", alpha, "use a number in (0, 1000] (α of the fallback's input mixup, Beta(α, α))")
        }
        if let m = mixing.m {
            try require(m >= 1 && m <= training.batchSize, "mixing.m", m,
                        "use an integer in [1, training.batch_size] = [1, \(training.batchSize)], or remove the key for all b")
        }
        try require(mixing.cleanLossWeight.isFinite && mixing.cleanLossWeight >= 0 && mixing.cleanLossWeight <= 1000,
                    "mixing.clean_loss_weight", mixing.cleanLossWeight, "use a number in [0, 1000] (0: no clean loss)")

        try require(optimizer.lr.isFinite && optimizer.lr > 0, "optimizer.lr", optimizer.lr, "use a number > 0")
        try require(optimizer.momentum.isFinite && optimizer.momentum >= 0 && optimizer.momentum < 1, "optimizer.momentum", optimizer.momentum, "use a number in [0, 1)")
        try require(!optimizer.nesterov || optimizer.momentum > 0, "optimizer.nesterov", true, "Nesterov needs optimizer.momentum > 0")
        try require(optimizer.weightDecay.isFinite && optimizer.weightDecay >= 0, "optimizer.weight_decay", optimizer.weightDecay, "use a number ≥ 0")

        try require(training.epochs >= 1, "training.epochs", training.epochs, "use an integer ≥ 1")
        try require(schedule.warmupEpochs >= 0 && schedule.warmupEpochs < training.epochs, "schedule.warmup_epochs", schedule.warmupEpochs,
                    "use an integer in [0, training.epochs) = [0, \(training.epochs))")
        for (i, milestone) in schedule.milestones.enumerated() {
            try require((1...training.epochs).contains(milestone), "schedule.milestones[\(i)]", milestone,
                        "each milestone is an epoch in [1, training.epochs] = [1, \(training.epochs)]")
            if i > 0 {
                try require(milestone > schedule.milestones[i - 1], "schedule.milestones[\(i)]", milestone,
                            "milestones must increase (the one before is \(schedule.milestones[i - 1]))")
            }
        }
        try require(schedule.gamma.isFinite && schedule.gamma > 0 && schedule.gamma <= 1, "schedule.gamma", schedule.gamma, "use a number in (0, 1]")

        try require(training.batchSize >= 1 && training.batchSize <= 65_536, "training.batch_size", training.batchSize, "use an integer in [1, 65536] (per rank)")
        try require((1...ComputeThreads.maximum).contains(training.threads), "training.threads", training.threads,
                    "use an integer in [1, \(ComputeThreads.maximum)] (per rank; more threads than cores only slow a step)")
        try require(training.logEverySteps >= 1, "training.log_every_steps", training.logEverySteps, "use an integer ≥ 1")

        try require(distributed.bucketMB.isFinite && distributed.bucketMB > 0 && distributed.bucketMB <= 4096, "distributed.bucket_mb", distributed.bucketMB, "use a number in (0, 4096]")
        try require(distributed.checkEverySteps >= 0, "distributed.check_every_steps", distributed.checkEverySteps, "use an integer ≥ 0 (0: never)")
        try require(distributed.stallTimeoutS.isFinite && distributed.stallTimeoutS > 0, "distributed.stall_timeout_s", distributed.stallTimeoutS, "use a number of seconds > 0")
        try require(distributed.stallAbortS.isFinite && distributed.stallAbortS >= 0, "distributed.stall_abort_s", distributed.stallAbortS, "use a number of seconds ≥ 0 (0: wait forever)")

        try require(eval.everyEpochs >= 1, "eval.every_epochs", eval.everyEpochs, "use an integer ≥ 1")
        try require((0...100_000).contains(eval.noiseOODImages), "eval.noise_ood_images", eval.noiseOODImages, "use an integer in [0, 100000] (0: none)")
        var oodNames = Set<String>()
        for (index, ood) in eval.ood.enumerated() {
            let path = eval.oodPath(index)
            if ood.name.isEmpty {
                try require(eval.ood.count == 1, "\(path).name", "\"\"", "give each of several OOD sets a name (letters, digits, -, _)")
            } else {
                if let problem = EvalConfig.OOD.problem(withName: ood.name) { try require(false, "\(path).name", ood.name, problem) }
                try require(oodNames.insert(ood.name).inserted, "\(path).name", ood.name, "give each OOD set its own name (this one is used twice)")
            }
            if let builtIn = ood.dataset.builtIn {
                try require(ood.dataset != data.dataset, "\(path).dataset", ood.dataset, "choose a dataset other than data.dataset (\(data.dataset))")
                try require(builtIn.imageShape == data.inputShape, "\(path).dataset", ood.dataset,
                            "its images (\(Self.channelsFirst(builtIn.imageShape))) must match the model's input (\(Self.channelsFirst(data.inputShape)))")
            } else {
                try require(data.inputShape.channels == 3, "\(path).dataset", ood.dataset,
                            "image folders are RGB and the model takes \(Self.channelsFirst(data.inputShape)) (\(data.dataset)); use a 1-channel built-in dataset")
            }
            try require(!ood.root.isEmpty, "\(path).root", "\"\"", "give the OOD set's folder")
        }

        if let baseline = eval.baseline {
            try require(!baseline.label.isEmpty, "eval.baseline.label", "\"\"", "say what the figure is")
            try require(baseline.top1.isFinite && (0...1).contains(baseline.top1), "eval.baseline.top1", baseline.top1, "use an accuracy in [0, 1]")
        }
        try require(checkpoint.everyEpochs >= 1, "checkpoint.every_epochs", checkpoint.everyEpochs, "use an integer ≥ 1")
        try require(checkpoint.keep >= 1, "checkpoint.keep", checkpoint.keep, "use an integer ≥ 1")
    }

    /// Whether `name` can name a folder of its own: 1 to 200 letters, digits, `.`, `_` and `-`, not
    /// `.` or `..` (run names, study names, study variant names; file systems refuse names over 255 bytes).
    public static func isFolderName(_ name: String) -> Bool {
        let characters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        return !name.isEmpty && name.count <= 200 && name.unicodeScalars.allSatisfy(characters.contains) && name != "." && name != ".."
    }

    /// `1x28x28`: channels, height, width.
    private static func channelsFirst(_ shape: ImageShape) -> String { "\(shape.channels)x\(shape.height)x\(shape.width)" }

    private func require(_ condition: Bool, _ path: String, _ value: Any, _ allowed: String) throws {
        if !condition { throw ConfigError.outOfRange(path, value, allowed) }
    }
}
