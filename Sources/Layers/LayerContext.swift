import Tensors

/// What every layer of one model shares, passed in at construction (no global state): the
/// parameter arena, how convolutions are computed, the training/evaluation switch, and an
/// optional timer for the per-layer-kind profile.
public final class LayerContext {
    /// Makes the convolution kernel for one geometry; called once per layer and batch shape.
    /// The default is the fast backend (oneDNN); tests pass `NaiveConvolution` or the im2col twin.
    public typealias ConvolutionFactory = (ConvolutionGeometry) -> any ConvolutionKernel

    public let arena: ParameterArena
    public var makeConvolution: ConvolutionFactory
    /// Training mode: BatchNorm uses batch statistics and updates its running statistics.
    public var isTraining = true
    /// When set, layers add the time of each forward and backward call to it.
    public var timer: LayerTimer?

    public init(arena: ParameterArena = ParameterArena(),
                makeConvolution: @escaping ConvolutionFactory = { makeConvolutionKernel($0) }) {
        self.arena = arena
        self.makeConvolution = makeConvolution
    }

    /// Runs `body`, adding its duration to `kind` when a timer is attached.
    @inline(__always)
    func timed<R>(_ kind: LayerTimer.Kind, _ body: () -> R) -> R {
        guard let timer else { return body() }
        let start = LayerTimer.now()
        let result = body()
        timer.add(kind, seconds: LayerTimer.now() - start)
        return result
    }
}
