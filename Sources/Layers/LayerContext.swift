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
    /// What normalises with batch statistics (training): oneDNN's primitives (the default: 8-9% faster
    /// steps) or the engine's own passes (the reference twin tests hold oneDNN to). Set before the
    /// first forward.
    public var batchNormBackend = BatchNormBackend.oneDNN
    /// When set, layers add the time of each forward and backward call to it.
    public var timer: LayerTimer?

    /// Gradient buffers shared by every layer's backward (see `gradientBuffer`).
    private var gradientBuffers: [Tensor] = []
    /// Buffers a caller still needs: never handed out until unpinned.
    private var pinnedBuffers: [Tensor] = []

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

    /// A buffer for a backward result of `shape`, distinct from `busy` (the gradients the caller is
    /// reading) and from every pinned buffer. Gradients are transient, so all layers share a few
    /// buffers instead of owning one each: a returned gradient is valid until the next backward
    /// call on this context, unless pinned. After the first step no call allocates.
    public func gradientBuffer(_ shape: [Int], avoiding busy: Tensor...) -> Tensor {
        let buffer = gradientBuffers.first { candidate in
            !busy.contains { $0 === candidate } && !pinnedBuffers.contains { $0 === candidate }
        } ?? {
            let fresh = Tensor(shape: shape)
            gradientBuffers.append(fresh)
            return fresh
        }()
        buffer.resize(to: shape)
        return buffer
    }

    /// Keeps `gradient` from being handed out again until `unpin`.
    public func pin(_ gradient: Tensor) { pinnedBuffers.append(gradient) }

    public func unpin(_ gradient: Tensor) {
        if let i = pinnedBuffers.lastIndex(where: { $0 === gradient }) { pinnedBuffers.remove(at: i) }
    }

    /// Bytes held by the shared gradient buffers (for reports).
    public var gradientBufferBytes: Int { gradientBuffers.reduce(0) { $0 + $1.capacityBytes } }
}

/// Which implementation runs BatchNorm2d's training passes (``LayerContext/batchNormBackend``).
public enum BatchNormBackend: String, CaseIterable, Sendable {
    /// The engine's passes: Float blocks summed in Double, the residual add fused in.
    case engine
    /// oneDNN's batch-normalisation primitives (ReLU fused where no residual follows).
    case oneDNN = "onednn"
}
