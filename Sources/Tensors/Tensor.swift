/// A dense float32 tensor: a shape and one owned, contiguous, row-major buffer.
///
/// Activations are NHWC (`[batch, height, width, channels]`), matrices `[rows, columns]`.
/// `Tensor` is a class so that a layer can own its output and scratch buffers and hand out
/// references to them: `resize(to:)` reuses the storage whenever it is large enough, so a layer
/// allocates once per batch shape and never per call.
///
///     let y = Tensor(shape: [128, 32, 32, 16])   // zeroed
///     y.resize(to: [64, 32, 32, 16])              // same storage, no allocation
public final class Tensor {
    /// The extent of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The number of elements, ∏ shape.
    public private(set) var count: Int
    /// The elements, row-major; valid for `count` Floats until the next `resize(to:)` that grows.
    public private(set) var data: UnsafeMutablePointer<Float>
    private var capacity: Int

    /// A zeroed tensor of `shape`.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        capacity = Swift.max(count, 1)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    /// A tensor of `shape` holding `values` (row-major).
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { data.deallocate() }

    /// Gives the tensor a new shape. The storage is kept when it is large enough (contents then
    /// unchanged, reinterpreted); otherwise it grows and the contents are zero.
    public func resize(to newShape: [Int]) {
        if newShape == shape { return }
        precondition(newShape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in \(newShape)")
        let newCount = newShape.reduce(1, *)
        if newCount > capacity {
            data.deallocate()
            capacity = newCount
            data = .allocate(capacity: capacity)
            data.initialize(repeating: 0, count: capacity)
        }
        shape = newShape
        count = newCount
    }

    /// Bytes of storage held (at least `count` Floats).
    public var capacityBytes: Int { capacity * MemoryLayout<Float>.stride }

    /// The elements as an array (for tests and reports; copies).
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Element access by flat index (for tests; hot loops use `data`).
    public subscript(index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }
}
