/// SGD's state as a checkpoint saves it, beside the optimizer that owns it: a momentum buffer per
/// trainable arena entry, named `momentum.<parameter name>` (PyTorch's `momentum_buffer`), and the
/// step count (its first step initialises momentum).
extension SGD {
    /// Prefix of the momentum buffers' names.
    public static let momentumPrefix = "momentum."
    /// Name of the step count.
    public static let stepCountName = "optimizer.step_count"

    /// One named buffer of the state: `values` points into `momentumBuffer`.
    public struct StateBuffer {
        public let name: String
        public let shape: [Int]
        public let values: UnsafeMutableBufferPointer<Float>
    }

    /// The momentum buffers, one per trainable entry, in arena order.
    public var momentumBuffers: [StateBuffer] {
        arena.entries.filter { $0.role != .buffer }.map {
            StateBuffer(name: SGD.momentumPrefix + $0.name, shape: $0.shape,
                        values: UnsafeMutableBufferPointer(start: momentumBuffer + $0.offset, count: $0.count))
        }
    }

    /// Copies the saved buffers (`saved(name)`) into the momentum, and the step count (`fallbackStep`
    /// when absent). Returns the parameter whose momentum `saved` lacks (or holds at another size),
    /// having restored nothing after it; nil when all were there.
    public func restoreState(_ saved: (String) -> [Float]?, fallbackStep: Int) -> String? {
        for buffer in momentumBuffers {
            guard let values = saved(buffer.name), values.count == buffer.values.count else {
                return String(buffer.name.dropFirst(SGD.momentumPrefix.count))
            }
            _ = buffer.values.update(fromContentsOf: values)
        }
        stepCount = Int(saved(SGD.stepCountName)?.first ?? Float(fallbackStep))
        return nil
    }
}
