import Layers
import Tensors

/// One residual block: forward, and backward returning the input gradient.
protocol ResidualBlock: AnyObject {
    func forward(_ x: Tensor) -> Tensor
    func backward(_ dY: Tensor) -> Tensor
    var convolutions: [Conv2d] { get }
}

/// Post-activation block (basic or bottleneck): units (conv → BN → ReLU), the last one's BN adding
/// the shortcut before its ReLU, all in one fused pass:
///
///     y = relu(BNₖ(convₖ(… relu(BN₁(conv₁(x))) …)) + shortcut(x))
///
/// Names: `conv{i}`, `bn{i}`; a projection shortcut is `downsample.0` (conv) and `downsample.1` (BN).
final class PostActivationBlock: ResidualBlock {
    private let context: LayerContext
    private let convs: [Conv2d]
    private let norms: [BatchNorm2d]
    private let subsample: SubsampleShortcut?
    private let projection: (conv: Conv2d, norm: BatchNorm2d)?
    var convolutions: [Conv2d] { convs + (projection.map { [$0.conv] } ?? []) }

    /// `kernels`: each unit's kernel size; `strideUnit`: the unit that carries the stride.
    init(_ context: LayerContext, name: String, inputChannels: Int, width: Int, outputChannels: Int,
         kernels: [Int], strideUnit: Int, stride: Int, shortcut: ResNetSpecification.Shortcut) {
        self.context = context
        var convs: [Conv2d] = [], norms: [BatchNorm2d] = []
        var channels = inputChannels
        for (i, k) in kernels.enumerated() {
            let last = i == kernels.count - 1
            let out = last ? outputChannels : width
            convs.append(Conv2d(context, name: "\(name).conv\(i + 1)", inputChannels: channels, outputChannels: out,
                                kernelSize: k, stride: i == strideUnit ? stride : 1, padding: k / 2))
            norms.append(BatchNorm2d(context, name: "\(name).bn\(i + 1)", channels: out, activation: .relu))
            channels = out
        }
        self.convs = convs
        self.norms = norms
        let reshapes = stride != 1 || inputChannels != outputChannels
        switch (reshapes, shortcut) {
        case (false, _):
            subsample = nil
            projection = nil
        case (true, .subsample):
            subsample = SubsampleShortcut(context, stride: stride, outputChannels: outputChannels)
            projection = nil
        case (true, .projection):
            subsample = nil
            projection = (Conv2d(context, name: "\(name).downsample.0", inputChannels: inputChannels,
                                 outputChannels: outputChannels, kernelSize: 1, stride: stride),
                          BatchNorm2d(context, name: "\(name).downsample.1", channels: outputChannels))
        }
    }

    func forward(_ x: Tensor) -> Tensor {
        var h = x
        for i in 0..<(convs.count - 1) { h = norms[i].forward(convs[i].forward(h)) }
        // r = shortcut(x)
        let r: Tensor
        if let subsample { r = subsample.forward(x) }
        else if let projection { r = projection.norm.forward(projection.conv.forward(x)) }
        else { r = x }
        // y = relu(BNₖ(convₖ(h)) + r)
        return norms[convs.count - 1].forward(convs[convs.count - 1].forward(h), residual: r)
    }

    func backward(_ dY: Tensor) -> Tensor {
        let last = norms[convs.count - 1]
        // g = dy·[y > 0];  d r = g   (d r is kept, pinned, while the main branch runs)
        var d = last.backward(dY)
        let dR = last.residualGradient
        context.pin(dR)
        defer { context.unpin(dR) }
        d = convs[convs.count - 1].backward(d)!
        for i in (0..<(convs.count - 1)).reversed() { d = convs[i].backward(norms[i].backward(d))! }
        // dx = d(main)/dx + d(shortcut)/dx
        if let subsample { subsample.backward(dR, accumulatingInto: d) }
        else if let projection {
            context.pin(d)
            defer { context.unpin(d) }
            d.add(projection.conv.backward(projection.norm.backward(dR))!)
        }
        else { d.add(dR) }
        return d
    }
}

/// Pre-activation block (He et al. 2016b; the MultiMix paper's PreAct ResNet, WideResNet):
///
///     a = relu(BN₁(x));   y = conv₂(relu(BN₂(conv₁(a)))) + (projection ? conv₁ₓ₁(a) : x)
///
/// The shortcut is added in place into conv₂'s output. Names: `bn1`, `conv1`, `bn2`, `conv2`,
/// projection `downsample.0`.
final class PreActivationBlock: ResidualBlock {
    private let context: LayerContext
    private let norm1: BatchNorm2d
    private let conv1: Conv2d
    private let norm2: BatchNorm2d
    private let conv2: Conv2d
    private let projection: Conv2d?
    var convolutions: [Conv2d] { [conv1, conv2] + (projection.map { [$0] } ?? []) }

    init(_ context: LayerContext, name: String, inputChannels: Int, outputChannels: Int, stride: Int) {
        self.context = context
        norm1 = BatchNorm2d(context, name: "\(name).bn1", channels: inputChannels, activation: .relu)
        conv1 = Conv2d(context, name: "\(name).conv1", inputChannels: inputChannels, outputChannels: outputChannels,
                       kernelSize: 3, stride: stride, padding: 1)
        norm2 = BatchNorm2d(context, name: "\(name).bn2", channels: outputChannels, activation: .relu)
        conv2 = Conv2d(context, name: "\(name).conv2", inputChannels: outputChannels, outputChannels: outputChannels,
                       kernelSize: 3, stride: 1, padding: 1)
        projection = stride != 1 || inputChannels != outputChannels
            ? Conv2d(context, name: "\(name).downsample.0", inputChannels: inputChannels,
                     outputChannels: outputChannels, kernelSize: 1, stride: stride)
            : nil
    }

    func forward(_ x: Tensor) -> Tensor {
        // a = relu(BN₁(x))
        let a = norm1.forward(x)
        // y = conv₂(relu(BN₂(conv₁(a))))
        let y = conv2.forward(norm2.forward(conv1.forward(a)))
        // y += shortcut
        y.add(projection?.forward(a) ?? x)
        return y
    }

    func backward(_ dY: Tensor) -> Tensor {
        // dy feeds both branches: pinned until the shortcut has used it.
        context.pin(dY)
        defer { context.unpin(dY) }
        // da = d(main)/da (+ d(projection)/da)
        let dA = conv1.backward(norm2.backward(conv2.backward(dY)!))!
        if let projection {
            context.pin(dA)
            dA.add(projection.backward(dY)!)
            context.unpin(dA)
        }
        let dX = norm1.backward(dA)
        // identity shortcut: dx += dy
        if projection == nil { dX.add(dY) }
        return dX
    }
}
