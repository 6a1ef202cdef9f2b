import Tensors

/// ReLU: y = max(x, 0)     x, y: any shape
///
/// Standalone, for where no BatchNorm precedes it (BatchNorm2d fuses its own).
public final class ReLU {
    private let context: LayerContext
    public let output = Tensor(shape: [0])

    public init(_ context: LayerContext) { self.context = context }

    public func forward(_ x: Tensor) -> Tensor {
        output.resize(to: x.shape)
        context.timed(.elementwise) {
            let xp = x.data, y = output.data
            for i in 0..<x.count { y[i] = max(xp[i], 0) }
        }
        return output
    }

    /// dx = dy·[y > 0]
    public func backward(_ dY: Tensor) -> Tensor {
        precondition(dY.count == output.count, "ReLU.backward: dY \(dY.shape), y \(output.shape)")
        let inputGradient = context.gradientBuffer(output.shape, avoiding: dY)
        context.timed(.elementwise) {
            let y = output.data, dy = dY.data, dx = inputGradient.data
            for i in 0..<dY.count { dx[i] = y[i] > 0 ? dy[i] : 0 }
        }
        return inputGradient
    }
}

/// Residual add: y = a + b     a, b, y: the same shape
///
/// Backward hands dy to both branches (da = db = dy), so it returns dy itself. Blocks that own
/// their branch's output add in place instead (`Tensor.add`); this layer is for the general case.
public final class ResidualAdd {
    private let context: LayerContext
    public let output = Tensor(shape: [0])

    public init(_ context: LayerContext) { self.context = context }

    public func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "ResidualAdd: \(a.shape) + \(b.shape)")
        output.resize(to: a.shape)
        context.timed(.elementwise) {
            let ap = a.data, bp = b.data, y = output.data
            for i in 0..<a.count { y[i] = ap[i] + bp[i] }
        }
        return output
    }

    /// da = dy, db = dy
    public func backward(_ dY: Tensor) -> (Tensor, Tensor) { (dY, dY) }
}
