import Foundation
import Layers
import RunConfig

extension Checkpoint {
    /// Suffix of BatchNorm's step counter in `model.safetensors` (`bn1.num_batches_tracked`).
    public static let batchesTrackedSuffix = ".num_batches_tracked"

    /// The tensors of `model.safetensors`, borrowed from `arena`: every entry (parameters and BatchNorm's
    /// running statistics, torchvision names) and, for each BatchNorm layer (each entry `<bn>.running_mean`),
    /// `<bn>.num_batches_tracked`: an int64 scalar holding `batchesTracked` (shape [], as PyTorch keeps
    /// it), so that `load_state_dict(…, strict=True)` finds every key a PyTorch model has.
    public static func modelTensors(_ arena: ParameterArena, batchesTracked: UnsafePointer<Int64>) -> [TensorSlice] {
        arena.entries.map {
            TensorSlice(name: $0.name, shape: $0.shape, values: UnsafeBufferPointer(start: arena.values + $0.offset, count: $0.count))
        } + arena.entries.compactMap { entry in
            guard entry.role == .buffer, entry.name.hasSuffix(".running_mean") else { return nil }
            return TensorSlice(name: entry.name.dropLast(".running_mean".count) + batchesTrackedSuffix, shape: [],
                               integers: UnsafeBufferPointer(start: batchesTracked, count: 1))
        }
    }

    /// The first tensor of `model.safetensors` holding a NaN or an infinity (a run that diverged), or nil.
    public var firstNonFiniteModelTensor: String? {
        model.first { tensor in tensor.values.contains { !$0.isFinite } }?.name
    }

    /// Copies the model's tensors (parameters and BatchNorm statistics) into `arena`, by name,
    /// checking that every tensor is there with the arena's shape. `num_batches_tracked` is not read:
    /// it is the optimizer's step count (older checkpoints lack it).
    public func restoreParameters(into arena: ParameterArena, modelName: String) throws {
        let stored = Dictionary(model.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let file = folder.appendingPathComponent("model.safetensors").path
        for entry in arena.entries {
            guard let tensor = stored[entry.name] else {
                throw UsageError("\(file) has no tensor \(entry.name); it was written for another model than \(modelName)")
            }
            guard tensor.dtype == .f32 else {
                throw UsageError("\(file): \(entry.name) is \(tensor.dtype.rawValue), not F32; the file was not written by multimix")
            }
            guard tensor.shape == entry.shape else {
                throw UsageError("\(file): \(entry.name) has shape \(tensor.shape), this model needs \(entry.shape); check model.name, model.width and data.dataset")
            }
            tensor.values.withUnsafeBufferPointer { (arena.values + entry.offset).update(from: $0.baseAddress!, count: entry.count) }
        }
    }
}
