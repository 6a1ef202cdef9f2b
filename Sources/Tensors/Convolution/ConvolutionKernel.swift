/// The shape of one 2-D convolution: NHWC activations, OIHW weights (torchvision's order, so the
/// parameter arena is checkpointed as is), square stride and zero padding.
///
///     x: [batch, inputHeight, inputWidth, inputChannels]          (NHWC)
///     w: [outputChannels, inputChannels, kernelHeight, kernelWidth] (OIHW)
///     y: [batch, outputHeight, outputWidth, outputChannels]       (NHWC)
public struct ConvolutionGeometry: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var inputChannels: Int
    public var inputHeight: Int
    public var inputWidth: Int
    public var outputChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var stride: Int
    public var padding: Int

    public init(batch: Int, inputChannels: Int, inputHeight: Int, inputWidth: Int, outputChannels: Int,
                kernelHeight: Int, kernelWidth: Int, stride: Int = 1, padding: Int = 0) {
        self.batch = batch
        self.inputChannels = inputChannels
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padding = padding
    }

    /// Ho = ⌊(H + 2p − kh) / s⌋ + 1
    public var outputHeight: Int { (inputHeight + 2 * padding - kernelHeight) / stride + 1 }
    /// Wo = ⌊(W + 2p − kw) / s⌋ + 1
    public var outputWidth: Int { (inputWidth + 2 * padding - kernelWidth) / stride + 1 }

    public var inputCount: Int { batch * inputHeight * inputWidth * inputChannels }
    public var outputCount: Int { batch * outputHeight * outputWidth * outputChannels }
    public var weightCount: Int { outputChannels * inputChannels * kernelHeight * kernelWidth }
    /// Multiply-adds of one forward pass (the backward passes cost the same each).
    public var multiplyAdds: Int { outputCount * inputChannels * kernelHeight * kernelWidth }

    public var description: String {
        "conv \(batch)x\(inputHeight)x\(inputWidth)x\(inputChannels) -> \(outputChannels) k\(kernelHeight)x\(kernelWidth) s\(stride) p\(padding)"
    }
}

/// One convolution shape's three passes. An implementation prepares whatever it needs (primitives,
/// scratch buffers) once, at creation, for its geometry, and reuses it every call: no allocation
/// per call.
///
/// All pointers are to contiguous Float buffers in the layouts of `ConvolutionGeometry`.
public protocol ConvolutionKernel: AnyObject {
    /// The shape this kernel was built for.
    var geometry: ConvolutionGeometry { get }

    /// y = x ⋆ w (+ b)                     writes all of `output`.
    func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 output: UnsafeMutablePointer<Float>)

    /// dx = dy ⋆ᵀ w (the transposed convolution)   writes all of `inputGradient`.
    func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                      inputGradient: UnsafeMutablePointer<Float>)

    /// dw = Σₙ xᵀ ⋆ dy,  db = Σ_{n,h,w} dy     writes (does not accumulate into) `weightGradient` and,
    /// when given, `biasGradient`.
    func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                         weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?)
}
