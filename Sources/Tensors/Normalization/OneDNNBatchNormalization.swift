import COneDNN

/// oneDNN's batch normalisation with batch statistics (training) over NHWC rows, ReLU optionally fused:
///
///     y = act(γ·(x − μ)·rstd + β)      μ, σ² over the rows (σ² biased)      rstd = 1/√(σ² + ε)
///     backward: dx, dγ, dβ from dy (with the ReLU fused: dy·[y > 0], from the forward's workspace)
///
///     x, y, dy, dx: [rows, C]      γ, β, μ, σ², dγ, dβ: [C]
///
/// γ and β are separate buffers (`dnnl_use_scale | dnnl_use_shift`), so the parameter arena's values
/// and gradients are bound directly, nothing packed. The primitives, their scratchpad and the ReLU
/// workspace (one bit per element) are made once per shape in `init`; calls allocate nothing.
/// `backward` reads what the last `forward` on this object left (μ, σ² as passed, the workspace), so
/// the two run in pairs, forward first. Not thread-safe: one caller at a time.
public final class OneDNNBatchNormalization {
    public let rows: Int
    public let channels: Int
    public let fusesReLU: Bool

    private let forwardPass: OneDNNPrimitive
    private let backwardPass: OneDNNPrimitive
    private let source, destination, diffDestination, diffSource: OneDNNMemory
    private let scale, shift, diffScale, diffShift, mean, variance: OneDNNMemory
    private let workspace: OneDNNMemory?
    private let scratchpad: UnsafeMutableRawPointer?

    public init(rows: Int, channels: Int, fusesReLU: Bool, epsilon: Float) {
        precondition(rows >= 1 && channels >= 1, "OneDNNBatchNormalization: \(rows) rows of \(channels) channels")
        self.rows = rows
        self.channels = channels
        self.fusesReLU = fusesReLU
        // [rows, C, 1, 1] as NHWC: the rows one after another, C floats each.
        let layout = OneDNN.descriptor([rows, channels, 1, 1], dnnl_nhwc)
        let vector = OneDNN.descriptor([channels], dnnl_x)
        let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue | (fusesReLU ? dnnl_fuse_norm_relu.rawValue : 0)
        var data = layout, diff = layout
        var forwardOperation = dnnl_batch_normalization_desc_t()
        OneDNN.check(dnnl_batch_normalization_forward_desc_init(&forwardOperation, dnnl_forward_training, &data, epsilon, flags),
                     "dnnl_batch_normalization_forward_desc_init")
        let forwardPass = withUnsafePointer(to: &forwardOperation) {
            OneDNNPrimitive(operation: UnsafeRawPointer($0), what: "batch normalization forward")
        }
        self.forwardPass = forwardPass
        var backwardOperation = dnnl_batch_normalization_desc_t()
        OneDNN.check(dnnl_batch_normalization_backward_desc_init(&backwardOperation, dnnl_backward, &diff, &data, epsilon, flags),
                     "dnnl_batch_normalization_backward_desc_init")
        let backwardPass = withUnsafePointer(to: &backwardOperation) {
            OneDNNPrimitive(operation: UnsafeRawPointer($0), hint: forwardPass, what: "batch normalization backward")
        }
        self.backwardPass = backwardPass
        (source, destination, diffDestination, diffSource) = (OneDNNMemory(layout), OneDNNMemory(layout), OneDNNMemory(layout), OneDNNMemory(layout))
        (scale, shift, diffScale, diffShift) = (OneDNNMemory(vector), OneDNNMemory(vector), OneDNNMemory(vector), OneDNNMemory(vector))
        (mean, variance) = (OneDNNMemory(vector), OneDNNMemory(vector))
        workspace = fusesReLU ? OneDNNMemory(forwardPass.layout(dnnl_query_workspace_md), owned: true) : nil
        let bytes = max(forwardPass.scratchpadBytes, backwardPass.scratchpadBytes)
        scratchpad = bytes > 0 ? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) : nil
        let kept = workspace.map { [$0.argument(DNNL_ARG_WORKSPACE)] } ?? []
        forwardPass.prepare([source.argument(DNNL_ARG_SRC), destination.argument(DNNL_ARG_DST),
                             scale.argument(DNNL_ARG_SCALE), shift.argument(DNNL_ARG_SHIFT),
                             mean.argument(DNNL_ARG_MEAN), variance.argument(DNNL_ARG_VARIANCE)] + kept,
                            scratchpad: scratchpad)
        backwardPass.prepare([source.argument(DNNL_ARG_SRC), diffDestination.argument(DNNL_ARG_DIFF_DST),
                              scale.argument(DNNL_ARG_SCALE), shift.argument(DNNL_ARG_SHIFT),  // oneDNN 2.6 refuses a backward without β
                              mean.argument(DNNL_ARG_MEAN), variance.argument(DNNL_ARG_VARIANCE),
                              diffSource.argument(DNNL_ARG_DIFF_SRC),
                              diffScale.argument(DNNL_ARG_DIFF_SCALE), diffShift.argument(DNNL_ARG_DIFF_SHIFT)] + kept,
                             scratchpad: scratchpad)
    }

    deinit { scratchpad?.deallocate() }

    /// y = act(γ·(x − μ)·rstd + β), writing the batch's μ and biased σ² ([C] each).
    public func forward(x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                        into y: UnsafeMutablePointer<Float>, mean μ: UnsafeMutablePointer<Float>, variance σ2: UnsafeMutablePointer<Float>) {
        source.bind(x); destination.bind(y); scale.bind(gamma); shift.bind(beta); mean.bind(μ); variance.bind(σ2)
        forwardPass.run()
    }

    /// dx, and dγ, dβ ([C], written, not added to), from dy and the forward's x, μ, σ² (and workspace).
    public func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                         mean μ: UnsafePointer<Float>, variance σ2: UnsafePointer<Float>,
                         into dx: UnsafeMutablePointer<Float>, dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>) {
        source.bind(x); diffDestination.bind(dy); scale.bind(gamma); shift.bind(beta); mean.bind(μ); variance.bind(σ2)
        diffSource.bind(dx); diffScale.bind(dGamma); diffShift.bind(dBeta)
        backwardPass.run()
    }
}
