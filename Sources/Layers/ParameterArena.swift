/// The one table of every parameter and buffer of a model: (torchvision name, shape) → offset.
///
/// Layers register their tensors at construction, in forward order; `finalize()` then allocates
/// one Float buffer for all values and one for all gradients:
///
///     values:    [ trainable₀ | trainable₁ | … | trainableₚ₋₁ | buffer₀ | … ]   (valueCount)
///     gradients: [ trainable₀ | trainable₁ | … | trainableₚ₋₁ ]               (trainableCount)
///
/// Trainable tensors come first, in registration order, so a gradient bucket is a contiguous
/// range of `gradients`, and backward (last layer first) completes the buckets from the end.
/// Buffers (BatchNorm running statistics) follow the trainables in `values` and have no gradient.
/// The optimizer is one loop over `0..<trainableCount`; a checkpoint is one pass over `entries`.
public final class ParameterArena {
    /// What a tensor is for.
    public enum Role: Sendable {
        /// Trained by the optimizer, with weight decay.
        case weight
        /// Trained, but exempt from weight decay when the optimizer skips BatchNorm and bias terms.
        case normOrBias
        /// Not trained (running statistics): stored and checkpointed only.
        case buffer
    }

    /// One named tensor of the arena.
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        public let role: Role
        /// Offset into `values` (and, for trainables, the same offset into `gradients`).
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// A layer's handle on one of its tensors; valid once the arena is finalized.
    public struct Slice: Sendable {
        let index: Int
    }

    private var pending: [(name: String, shape: [Int], role: Role, initial: Float)] = []
    public private(set) var entries: [Entry] = []
    /// Trainable element count (the length of `gradients`).
    public private(set) var trainableCount = 0
    /// Every element: trainables then buffers.
    public private(set) var valueCount = 0
    /// All values; nil until `finalize()`.
    public private(set) var values: UnsafeMutablePointer<Float>!
    /// All gradients; nil until `finalize()`.
    public private(set) var gradients: UnsafeMutablePointer<Float>!
    public var isFinalized: Bool { values != nil }

    public init() {}

    deinit {
        values?.deallocate()
        gradients?.deallocate()
    }

    /// Registers a tensor, filled with `initial` at `finalize()` (layers that need random
    /// initialisation write it afterwards).
    public func register(_ name: String, shape: [Int], role: Role, initial: Float = 0) -> Slice {
        precondition(!isFinalized, "ParameterArena: register(\(name)) after finalize()")
        precondition(!pending.contains { $0.name == name }, "ParameterArena: \(name) registered twice")
        pending.append((name, shape, role, initial))
        return Slice(index: pending.count - 1)
    }

    /// Lays out and allocates both buffers. Gradients start at zero.
    public func finalize() {
        precondition(!isFinalized, "ParameterArena: finalize() twice")
        var offsets = [Int](repeating: 0, count: pending.count)
        var next = 0
        for (i, p) in pending.enumerated() where p.role != .buffer {
            offsets[i] = next
            next += p.shape.reduce(1, *)
        }
        trainableCount = next
        for (i, p) in pending.enumerated() where p.role == .buffer {
            offsets[i] = next
            next += p.shape.reduce(1, *)
        }
        valueCount = next
        entries = pending.enumerated().map { i, p in Entry(name: p.name, shape: p.shape, role: p.role, offset: offsets[i]) }
        values = .allocate(capacity: Swift.max(valueCount, 1))
        gradients = .allocate(capacity: Swift.max(trainableCount, 1))
        gradients.initialize(repeating: 0, count: Swift.max(trainableCount, 1))
        for (entry, p) in zip(entries, pending) {
            (values + entry.offset).initialize(repeating: p.initial, count: entry.count)
        }
        pending = []
    }

    /// The entry a slice names.
    public func entry(_ slice: Slice) -> Entry { entries[slice.index] }

    /// The entry named `name`, if any.
    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The values of one tensor.
    public func value(_ slice: Slice) -> UnsafeMutablePointer<Float> {
        values + entries[slice.index].offset
    }

    /// The gradient of one trainable tensor.
    public func gradient(_ slice: Slice) -> UnsafeMutablePointer<Float> {
        precondition(entries[slice.index].role != .buffer, "ParameterArena: \(entries[slice.index].name) has no gradient")
        return gradients + entries[slice.index].offset
    }

    /// Sets every gradient to zero.
    /// The buffers after the trainable values: BatchNorm's running means and variances, which forward
    /// passes in training mode update and no optimizer touches.
    public var runningStatistics: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: values + trainableCount, count: valueCount - trainableCount)
    }

    public func zeroGradients() {
        gradients.update(repeating: 0, count: trainableCount)
    }
}
