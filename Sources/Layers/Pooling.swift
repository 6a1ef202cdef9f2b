import Tensors

/// Global average pooling: z[n, c] = 1/(h·w) Σ_{i,j} x[n, i, j, c]
///
///     x: [n, h, w, C] → z: [n, C]
public final class GlobalAveragePool {
    private let context: LayerContext
    private var inputShape: [Int] = []
    public let output = Tensor(shape: [0])

    public init(_ context: LayerContext) { self.context = context }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4, "GlobalAveragePool: input \(x.shape) is not NHWC")
        inputShape = x.shape
        let (n, hw, C) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        output.resize(to: [n, C])
        context.timed(.pooling) {
            let z = output.data, scale = 1 / Float(hw)
            z.update(repeating: 0, count: n * C)
            for b in 0..<n {
                let zr = z + b * C
                for p in 0..<hw {
                    let xr = x.data + (b * hw + p) * C
                    for c in 0..<C { zr[c] += xr[c] }
                }
                for c in 0..<C { zr[c] *= scale }
            }
        }
        return output
    }

    /// dx[n, i, j, c] = dz[n, c] / (h·w)
    public func backward(_ dZ: Tensor) -> Tensor {
        let (n, hw, C) = (inputShape[0], inputShape[1] * inputShape[2], inputShape[3])
        precondition(dZ.count == n * C, "GlobalAveragePool.backward: dZ \(dZ.shape) for input \(inputShape)")
        let inputGradient = context.gradientBuffer(inputShape, avoiding: dZ)
        context.timed(.pooling) {
            let scale = 1 / Float(hw), dx = inputGradient.data
            for b in 0..<n {
                let dzr = dZ.data + b * C
                for p in 0..<hw {
                    let dxr = dx + (b * hw + p) * C
                    for c in 0..<C { dxr[c] = dzr[c] * scale }
                }
            }
        }
        return inputGradient
    }
}

/// k×k average pooling with stride s, no padding: y[n, i, j, c] = 1/k² Σ_{a,b<k} x[n, i·s + a, j·s + b, c]
///
///     x: [n, h, w, C] → y: [n, ⌊(h − k)/s⌋ + 1, ⌊(w − k)/s⌋ + 1, C]
public final class AveragePool2d {
    public let kernelSize: Int
    public let stride: Int
    private let context: LayerContext
    private var inputShape: [Int] = []
    public let output = Tensor(shape: [0])

    public init(_ context: LayerContext, kernelSize: Int, stride: Int? = nil) {
        self.context = context
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] >= kernelSize && x.shape[2] >= kernelSize,
                     "AveragePool2d: input \(x.shape) is not NHWC of at least \(kernelSize)×\(kernelSize)")
        inputShape = x.shape
        let (n, h, w, C) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = ((h - kernelSize) / stride + 1, (w - kernelSize) / stride + 1)
        output.resize(to: [n, ho, wo, C])
        context.timed(.pooling) {
            let y = output.data, scale = 1 / Float(kernelSize * kernelSize)
            y.update(repeating: 0, count: output.count)
            for b in 0..<n { for i in 0..<ho { for j in 0..<wo {
                let yr = y + ((b * ho + i) * wo + j) * C
                for a in 0..<kernelSize { for e in 0..<kernelSize {
                    let xr = x.data + ((b * h + i * stride + a) * w + j * stride + e) * C
                    for c in 0..<C { yr[c] += xr[c] }
                } }
                for c in 0..<C { yr[c] *= scale }
            } } }
        }
        return output
    }

    /// dx[n, i·s + a, j·s + b, c] += dy[n, i, j, c] / k²
    public func backward(_ dY: Tensor) -> Tensor {
        precondition(dY.count == output.count, "AveragePool2d.backward: dY \(dY.shape), y \(output.shape)")
        let (n, h, w, C) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (ho, wo) = (output.shape[1], output.shape[2])
        let inputGradient = context.gradientBuffer(inputShape, avoiding: dY)
        context.timed(.pooling) {
            let dx = inputGradient.data, scale = 1 / Float(kernelSize * kernelSize)
            dx.update(repeating: 0, count: inputGradient.count)
            for b in 0..<n { for i in 0..<ho { for j in 0..<wo {
                let dyr = dY.data + ((b * ho + i) * wo + j) * C
                for a in 0..<kernelSize { for e in 0..<kernelSize {
                    let dxr = dx + ((b * h + i * stride + a) * w + j * stride + e) * C
                    for c in 0..<C { dxr[c] += dyr[c] * scale }
                } }
            } } }
        }
        return inputGradient
    }
}

/// k×k max pooling, stride s, padding p (padding never wins):
/// y[n, i, j, c] = max_{a,b<k} x[n, i·s − p + a, j·s − p + b, c]
///
///     x: [n, h, w, C] → y: [n, ⌊(h + 2p − k)/s⌋ + 1, ⌊(w + 2p − k)/s⌋ + 1, C]
///
/// Forward caches, per output element, the flat input index of its maximum (first on ties).
public final class MaxPool2d {
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    private let context: LayerContext
    private var inputShape: [Int] = []
    public let output = Tensor(shape: [0])
    private var argmax: [Int32] = []

    public init(_ context: LayerContext, kernelSize: Int, stride: Int, padding: Int = 0) {
        precondition(padding * 2 <= kernelSize, "MaxPool2d: padding \(padding) exceeds half the kernel \(kernelSize)")
        self.context = context
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
    }

    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4, "MaxPool2d: input \(x.shape) is not NHWC")
        inputShape = x.shape
        let (n, h, w, C) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ho = (h + 2 * padding - kernelSize) / stride + 1, wo = (w + 2 * padding - kernelSize) / stride + 1
        output.resize(to: [n, ho, wo, C])
        if argmax.count != output.count { argmax = [Int32](repeating: 0, count: output.count) }
        context.timed(.pooling) {
            let y = output.data
            argmax.withUnsafeMutableBufferPointer { best in
                y.update(repeating: -.infinity, count: output.count)
                for b in 0..<n { for i in 0..<ho { for j in 0..<wo {
                    let o = ((b * ho + i) * wo + j) * C
                    for a in 0..<kernelSize {
                        let r = i * stride - padding + a
                        if r < 0 || r >= h { continue }
                        for e in 0..<kernelSize {
                            let q = j * stride - padding + e
                            if q < 0 || q >= w { continue }
                            let base = ((b * h + r) * w + q) * C
                            for c in 0..<C where x.data[base + c] > y[o + c] {
                                y[o + c] = x.data[base + c]
                                best[o + c] = Int32(base + c)
                            }
                        }
                    }
                } } }
            }
        }
        return output
    }

    /// dx[argmax(o)] += dy[o]
    public func backward(_ dY: Tensor) -> Tensor {
        precondition(dY.count == output.count, "MaxPool2d.backward: dY \(dY.shape), y \(output.shape)")
        let inputGradient = context.gradientBuffer(inputShape, avoiding: dY)
        context.timed(.pooling) {
            let dx = inputGradient.data
            dx.update(repeating: 0, count: inputGradient.count)
            argmax.withUnsafeBufferPointer { best in
                for o in 0..<dY.count { dx[Int(best[o])] += dY.data[o] }
            }
        }
        return inputGradient
    }
}
