/// Elementwise kernels on whole tensors. Each is one pass over contiguous memory.
extension Tensor {
    /// x ← v
    public func fill(_ value: Float) {
        data.update(repeating: value, count: count)
    }

    /// x ← y      (same element count; the shape of `self` is kept)
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    /// x ← x + y  (same element count)
    public func add(_ other: Tensor) {
        precondition(other.count == count, "add: \(other.shape) to \(shape)")
        let x = data, y = other.data
        for i in 0..<count { x[i] += y[i] }
    }

    /// x ← α·x
    public func scale(by alpha: Float) {
        let x = data
        for i in 0..<count { x[i] *= alpha }
    }

    /// Σᵢ xᵢ, accumulated in Double.
    public func sum() -> Double {
        var total = 0.0
        for i in 0..<count { total += Double(data[i]) }
        return total
    }
}
