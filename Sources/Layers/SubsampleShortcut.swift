import Tensors

/// The parameter-free "option A" shortcut of He et al. (2016) for CIFAR ResNets: take every s-th
/// pixel and zero-pad the channels evenly on both sides.
///
///     y[n, i, j, c] = x[n, i·s, j·s, c − p]  for p ≤ c < p + Cin, else 0      p = (Cout − Cin)/2
///
///     x: [n, h, w, Cin] → y: [n, ⌈h/s⌉, ⌈w/s⌉, Cout]
public final class SubsampleShortcut {
    public let stride: Int
    public let outputChannels: Int
    private let context: LayerContext
    private var inputShape: [Int] = []
    public let output = Tensor(shape: [0])

    public init(_ context: LayerContext, stride: Int, outputChannels: Int) {
        self.context = context
        self.stride = stride
        self.outputChannels = outputChannels
    }

    public func forward(_ x: Tensor) -> Tensor {
        inputShape = x.shape
        let (n, h, w, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(outputChannels >= cin, "SubsampleShortcut: \(cin) → \(outputChannels) channels")
        let (ho, wo, cout, pad) = ((h + stride - 1) / stride, (w + stride - 1) / stride, outputChannels, (outputChannels - cin) / 2)
        output.resize(to: [n, ho, wo, cout])
        context.timed(.elementwise) {
            let y = output.data
            for b in 0..<n { for i in 0..<ho { for j in 0..<wo {
                let yr = y + ((b * ho + i) * wo + j) * cout
                let xr = x.data + ((b * h + i * stride) * w + j * stride) * cin
                for c in 0..<pad { yr[c] = 0 }
                for c in 0..<cin { yr[pad + c] = xr[c] }
                for c in (pad + cin)..<cout { yr[c] = 0 }
            } } }
        }
        return output
    }

    /// dx[n, i·s, j·s, c] += dy[n, i, j, c + p]   (accumulated into `inputGradient`, the other
    /// branch's gradient of the same input; other pixels get nothing)
    public func backward(_ dY: Tensor, accumulatingInto dX: Tensor) {
        let (n, h, w, cin) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        precondition(dX.count == n * h * w * cin && dY.count == output.count, "SubsampleShortcut.backward: shapes")
        let (ho, wo, cout, pad) = (output.shape[1], output.shape[2], outputChannels, (outputChannels - cin) / 2)
        context.timed(.elementwise) {
            for b in 0..<n { for i in 0..<ho { for j in 0..<wo {
                let dyr = dY.data + ((b * ho + i) * wo + j) * cout + pad
                let dxr = dX.data + ((b * h + i * stride) * w + j * stride) * cin
                for c in 0..<cin { dxr[c] += dyr[c] }
            } } }
        }
    }
}
