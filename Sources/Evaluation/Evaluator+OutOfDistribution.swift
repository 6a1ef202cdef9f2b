import Datasets
import Foundation
import RunConfig

extension Evaluator {
    /// The set `ood` describes, against a model trained on `data`: a built-in dataset's test split, or
    /// every image of a folder without classes, transformed as `data`'s evaluated split (an image
    /// folder's evaluation transform; built-in data: the whole image resized to the model's input) and
    /// normalised with `data`'s statistics. `key` names the setting in errors (`eval.ood[1]`, `--ood`).
    public static func outOfDistributionSet(_ ood: EvalConfig.OOD, data: any TrainingData, key: String) throws -> OutOfDistributionSet {
        let shape = data.inputShape
        guard let builtIn = ood.dataset.builtIn else {
            guard shape.channels == 3 else {
                throw UsageError("\(key): an image folder is RGB and the model takes \(shape); use a 1-channel built-in dataset")
            }
            let folder = data as? ImageFolderPipeline
            do {
                return OutOfDistributionSet(name: ood.name, data: try UnlabelledImageFolder(
                    root: ood.root, transform: folder?.settings.evaluationTransform ?? ImageTransform(size: shape.height, geometry: .resize),
                    statistics: data.statistics, workers: folder?.settings.workers ?? 1,
                    maxImagePixels: folder?.settings.maxImagePixels ?? ImageFolderPipeline.Settings(imageSize: 1).maxImagePixels))
            } catch let error as DatasetError {
                let fetch = error.kind == .missing && error.path == ood.root
                    ? " (the paper's sets: `multimix data fetch \(ood.name.isEmpty ? "lsun-crop" : ood.name)`, see docs/data.md, \"The paper's OOD table\"; or leave the set out: --set eval.ood=null)" : ""
                throw UsageError("\(key): \(error)\(fetch)")
            }
        }
        return OutOfDistributionSet(name: ood.name, data: try outOfDistributionPipeline(
            builtIn, root: ood.root, statistics: data.statistics, shape: shape, key: key))
    }

    /// The test split of dataset `name` (in `root`, or its default folder) as an out-of-distribution
    /// set for a model trained on images of `shape`, normalised with the training data's `statistics`.
    /// `key` names the setting in errors (`eval.ood` or `--ood`).
    public static func outOfDistributionPipeline(_ name: DatasetName, root: String?, statistics: ChannelStatistics,
                                                 shape: ImageShape, key: String) throws -> any TrainingData {
        let source = DatasetSource(name, root: root)
        let pipeline = try DataPipeline(source: source, statistics: statistics)
        guard let test = pipeline.test else {
            throw UsageError("\(key): \(source.root) has no test split of \(name); \(name.fetchAdvice(root: source.root).replacingOccurrences(of: "multimix data fetch \(name.rawValue)", with: "multimix data fetch \(name.rawValue) --split test"))")
        }
        guard test.shape == shape else {
            throw UsageError("\(key): \(name) images are \(test.shape), the model takes \(shape); pick a set of the same shape (cifar10 against cifar100)")
        }
        return pipeline
    }
}
