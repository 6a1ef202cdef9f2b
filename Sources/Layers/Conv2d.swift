import Tensors

/// Conv2d: y = x ⋆ w (+ b)
///
///     x: [n, h, w, inputChannels]  (NHWC)     w: [outputChannels, inputChannels, k, k]  (OIHW)
///     y: [n, ho, wo, outputChannels]          ho = ⌊(h + 2p − k)/s⌋ + 1
///
/// The arithmetic is the context's `ConvolutionKernel`, made once per batch shape and reused.
/// Initialisation: w ~ N(0, 2/(outputChannels·k²)) (He, fan-out, as torchvision's ResNets);
/// b ~ U(±1/√(inputChannels·k²)).
public final class Conv2d {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let weight: ParameterArena.Slice
    public let bias: ParameterArena.Slice?
    /// False for a network's first layer: its input gradient is never needed, so never computed.
    public var computesInputGradient = true

    private let context: LayerContext
    private var kernel: (any ConvolutionKernel)?
    /// The geometry of the last forward (nil before the first).
    public var geometry: ConvolutionGeometry? { kernel?.geometry }
    /// The cached input, read by backward.
    private var input: Tensor?
    public let output = Tensor(shape: [0])

    public init(_ context: LayerContext, name: String, inputChannels: Int, outputChannels: Int,
                kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = false) {
        self.context = context
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        weight = context.arena.register("\(name).weight", shape: [outputChannels, inputChannels, kernelSize, kernelSize],
                                        role: .weight)
        self.bias = bias ? context.arena.register("\(name).bias", shape: [outputChannels], role: .normOrBias) : nil
    }

    public func initialize(_ random: inout ParameterInitializer) {
        let arena = context.arena
        random.fillNormal(arena.value(weight), count: arena.entry(weight).count,
                          std: (2.0 / Double(outputChannels * kernelSize * kernelSize)).squareRoot())
        if let bias {
            random.fillUniform(arena.value(bias), count: outputChannels,
                               bound: 1 / Double(inputChannels * kernelSize * kernelSize).squareRoot())
        }
    }

    /// The geometry for an NHWC input shape.
    func makeGeometry(for shape: [Int]) -> ConvolutionGeometry {
        precondition(shape.count == 4 && shape[3] == inputChannels,
                     "Conv2d: input \(shape) is not [n, h, w, \(inputChannels)]")
        return ConvolutionGeometry(batch: shape[0], inputChannels: inputChannels, inputHeight: shape[1],
                                   inputWidth: shape[2], outputChannels: outputChannels, kernelHeight: kernelSize,
                                   kernelWidth: kernelSize, stride: stride, padding: padding)
    }

    /// y = x ⋆ w (+ b)
    public func forward(_ x: Tensor) -> Tensor {
        let g = makeGeometry(for: x.shape)
        if kernel?.geometry != g { kernel = context.makeConvolution(g) }
        output.resize(to: [g.batch, g.outputHeight, g.outputWidth, g.outputChannels])
        input = x
        let arena = context.arena
        context.timed(.convolutionForward) {
            kernel!.forward(input: x.data, weight: arena.value(weight), bias: bias.map { arena.value($0) },
                            output: output.data)
        }
        return output
    }

    /// dw = Σₙ xᵀ ⋆ dy, db = Σ dy (written into the arena's gradients); returns dx = dy ⋆ᵀ w, or nil
    /// when `computesInputGradient` is false. dx is a shared gradient buffer (`LayerContext.gradientBuffer`).
    @discardableResult
    public func backward(_ dY: Tensor) -> Tensor? {
        guard let kernel, let x = input else { preconditionFailure("Conv2d.backward before forward") }
        precondition(dY.count == output.count, "Conv2d.backward: dY \(dY.shape), output \(output.shape)")
        let arena = context.arena
        context.timed(.convolutionBackwardWeights) {
            kernel.backwardWeights(input: x.data, outputGradient: dY.data, weightGradient: arena.gradient(weight),
                                   biasGradient: bias.map { arena.gradient($0) })
        }
        guard computesInputGradient else { return nil }
        let inputGradient = context.gradientBuffer(x.shape, avoiding: dY)
        context.timed(.convolutionBackwardData) {
            kernel.backwardData(outputGradient: dY.data, weight: arena.value(weight), inputGradient: inputGradient.data)
        }
        return inputGradient
    }
}
