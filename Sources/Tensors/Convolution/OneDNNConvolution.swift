import COneDNN

/// The fast convolution path: oneDNN 2.6's direct convolution primitives (jit:avx2 on this machine).
///
/// Activations cross the boundary as NHWC (`dnnl_nhwc`) and are used in place. Weights arrive OIHW
/// (`dnnl_oihw`, the arena's layout); each primitive chose its own weight layout at creation
/// (`dnnl_format_tag_any`), so every call first reorders the weights (or, for `backwardWeights`, the
/// weight gradient) between OIHW and that layout. Those reorders touch `weightCount` floats, small next
/// to the convolution: `multimix bench conv` reports their cost.
///
///     forward:          x (NHWC), w → w' (reorder), w', b  → y (NHWC)
///     backwardData:     dy (NHWC), w → w'' (reorder), w''  → dx (NHWC)
///     backwardWeights:  x, dy → dw' (primitive's layout), db → dw (reorder to OIHW)
///
/// The reorders run on the calling thread alone: a weight tensor is at most a few hundred KB, and an
/// OpenMP parallel region (fork, barrier) for it costs more than the copy.
///
/// Everything (descriptors, primitives, reorders, scratchpad, reordered-weight buffers) is made once in
/// `init`; the bias variants of forward and backward-weights are made on first use with a bias, once.
/// Calls allocate nothing. Not thread-safe: one caller at a time per kernel.
public final class OneDNNConvolution: ConvolutionKernel {
    public let geometry: ConvolutionGeometry

    // Layouts, fixed for this geometry.
    private let sourceLayout: dnnl_memory_desc_t       // x, dx   [N, C, H, W] as NHWC
    private let destinationLayout: dnnl_memory_desc_t  // y, dy   [N, O, Ho, Wo] as NHWC
    private let userWeightLayout: dnnl_memory_desc_t   // w, dw   [O, C, kh, kw] as OIHW
    private let biasLayout: dnnl_memory_desc_t         // b, db   [O]

    // Memory objects over the caller's buffers, re-pointed each call.
    private let source: OneDNNMemory
    private let destination: OneDNNMemory
    private let userWeight: OneDNNMemory
    private let bias: OneDNNMemory

    // The three passes, each with its weight memory in the primitive's layout and the reorder to it.
    private let forwardPass: Pass
    private var forwardWithBias: Pass?
    private let backwardDataPass: Pass
    private let backwardWeightsPass: Pass
    private var backwardWeightsWithBias: Pass?

    /// Scratchpad shared by this kernel's primitives (they never run at once), sized for the largest.
    private var scratchpad: UnsafeMutableRawPointer?
    /// Bytes of that scratchpad (reported by the benchmark: it is this kernel's main memory cost).
    package private(set) var scratchpadBytes: Int

    /// One primitive and the weight memory it reads (or writes) in its own layout.
    private struct Pass {
        let primitive: OneDNNPrimitive
        /// The weights (or weight gradient) in the primitive's layout.
        let weight: OneDNNMemory
        /// OIHW → primitive layout for forward/backwardData; primitive layout → OIHW for backwardWeights.
        /// nil when the primitive chose OIHW itself, and then `weight` is bound to the caller's buffer.
        let reorder: OneDNNPrimitive?
    }

    /// Builds the primitives for `geometry`. Stops with oneDNN's status if oneDNN cannot make one
    /// (a shape its CPU engine does not support).
    public init(_ geometry: ConvolutionGeometry) {
        let g = geometry
        precondition(g.outputHeight >= 1 && g.outputWidth >= 1, "OneDNNConvolution: empty output for \(g)")
        self.geometry = g
        sourceLayout = OneDNN.descriptor([g.batch, g.inputChannels, g.inputHeight, g.inputWidth], dnnl_nhwc)
        destinationLayout = OneDNN.descriptor([g.batch, g.outputChannels, g.outputHeight, g.outputWidth],
                                              dnnl_nhwc)
        userWeightLayout = OneDNN.descriptor([g.outputChannels, g.inputChannels, g.kernelHeight, g.kernelWidth],
                                             dnnl_oihw)
        biasLayout = OneDNN.descriptor([g.outputChannels], dnnl_x)
        source = OneDNNMemory(sourceLayout)
        destination = OneDNNMemory(destinationLayout)
        userWeight = OneDNNMemory(userWeightLayout)
        bias = OneDNNMemory(biasLayout)

        forwardPass = Self.makeForward(g, sourceLayout, destinationLayout, userWeightLayout, biasLayout,
                                       withBias: false)
        backwardDataPass = Self.makeBackwardData(g, sourceLayout, destinationLayout, userWeightLayout,
                                                 hint: forwardPass.primitive)
        backwardWeightsPass = Self.makeBackwardWeights(g, sourceLayout, destinationLayout, userWeightLayout,
                                                       biasLayout, withBias: false, hint: forwardPass.primitive)
        scratchpadBytes = 0
        growScratchpad(for: [forwardPass, backwardDataPass, backwardWeightsPass])
        prepareForward(forwardPass, withBias: false)
        prepareBackwardData(backwardDataPass)
        prepareBackwardWeights(backwardWeightsPass, withBias: false)
    }

    deinit { scratchpad?.deallocate() }

    // MARK: - The three passes

    public func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias b: UnsafePointer<Float>?,
                        output: UnsafeMutablePointer<Float>) {
        let pass: Pass
        if let b {
            pass = forwardWithBias ?? makeBiasVariants().forward
            bias.bind(b)
        } else {
            pass = forwardPass
        }
        reorderWeights(weight, into: pass)
        source.bind(input)
        destination.bind(output)
        pass.primitive.run()
    }

    public func backwardData(outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             inputGradient: UnsafeMutablePointer<Float>) {
        reorderWeights(weight, into: backwardDataPass)
        destination.bind(outputGradient)
        source.bind(inputGradient)
        backwardDataPass.primitive.run()
    }

    public func backwardWeights(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>,
                                biasGradient: UnsafeMutablePointer<Float>?) {
        let pass: Pass
        if let biasGradient {
            pass = backwardWeightsWithBias ?? makeBiasVariants().backwardWeights
            bias.bind(biasGradient)
        } else {
            pass = backwardWeightsPass
        }
        source.bind(input)
        destination.bind(outputGradient)
        userWeight.bind(weightGradient)
        if pass.reorder == nil { pass.weight.bind(weightGradient) }
        pass.primitive.run()
        pass.reorder?.runOnCallingThread()  // dw' (primitive's layout) → dw (OIHW)
    }

    // MARK: - Weight reorders (exposed to the benchmark, which times them alone)

    /// OIHW `weight` → the forward primitive's layout: the reorder `forward` does first.
    package func reorderForwardWeights(_ weight: UnsafePointer<Float>) { reorderWeights(weight, into: forwardPass) }

    /// OIHW `weight` → the backward-data primitive's layout: the reorder `backwardData` does first.
    package func reorderBackwardDataWeights(_ weight: UnsafePointer<Float>) {
        reorderWeights(weight, into: backwardDataPass)
    }

    /// The backward-weights primitive's last weight gradient → OIHW `weightGradient`: the reorder
    /// `backwardWeights` does last.
    package func reorderWeightGradient(into weightGradient: UnsafeMutablePointer<Float>) {
        userWeight.bind(weightGradient)
        backwardWeightsPass.reorder?.runOnCallingThread()
    }

    /// The weight layouts the primitives chose ("OIhw8i8o", ...; "oihw" means no reorder), for reports.
    package var weightLayouts: (forward: String, backwardData: String, backwardWeights: String) {
        (OneDNN.formatName(forwardPass.weight.layout), OneDNN.formatName(backwardDataPass.weight.layout),
         OneDNN.formatName(backwardWeightsPass.weight.layout))
    }

    private func reorderWeights(_ weight: UnsafePointer<Float>, into pass: Pass) {
        if let reorder = pass.reorder {
            userWeight.bind(weight)
            reorder.runOnCallingThread()
        } else {
            pass.weight.bind(weight)
        }
    }


    // MARK: - Creation

    /// The strides and paddings of `g` as oneDNN's spatial arrays (symmetric padding: oneDNN checks
    /// Ho = ⌊(H + 2p − kh)/s⌋ + 1, the same floor as `ConvolutionGeometry`).
    private static func spatial(_ g: ConvolutionGeometry) -> (strides: [Int64], padding: [Int64]) {
        ([Int64(g.stride), Int64(g.stride)], [Int64(g.padding), Int64(g.padding)])
    }

    /// [O, C, kh, kw] in whatever layout the primitive prefers.
    private static func anyWeightLayout(_ g: ConvolutionGeometry) -> dnnl_memory_desc_t {
        OneDNN.descriptor([g.outputChannels, g.inputChannels, g.kernelHeight, g.kernelWidth], dnnl_format_tag_any)
    }

    private static func makeForward(_ g: ConvolutionGeometry, _ src: dnnl_memory_desc_t, _ dst: dnnl_memory_desc_t,
                                    _ userWeights: dnnl_memory_desc_t, _ biasLayout: dnnl_memory_desc_t,
                                    withBias: Bool) -> Pass {
        // A zero descriptor (format kind undef) is oneDNN's "no bias".
        var src = src, dst = dst, biasLayout = withBias ? biasLayout : dnnl_memory_desc_t()
        var weights = anyWeightLayout(g)
        let (strides, padding) = spatial(g)
        var operation = dnnl_convolution_desc_t()
        OneDNN.check(dnnl_convolution_forward_desc_init(&operation, dnnl_forward_training, dnnl_convolution_direct,
                                                        &src, &weights, &biasLayout, &dst,
                                                        strides, padding, padding),
                     "dnnl_convolution_forward_desc_init(\(g))")
        let primitive = OneDNNPrimitive(operation: &operation, what: "forward \(g)")
        return pass(primitive, weightLayout: primitive.layout(dnnl_query_weights_md), userWeights: userWeights,
                    towardPrimitive: true)
    }

    private static func makeBackwardData(_ g: ConvolutionGeometry, _ src: dnnl_memory_desc_t,
                                         _ dst: dnnl_memory_desc_t, _ userWeights: dnnl_memory_desc_t,
                                         hint: OneDNNPrimitive) -> Pass {
        var src = src, dst = dst
        var weights = anyWeightLayout(g)
        let (strides, padding) = spatial(g)
        var operation = dnnl_convolution_desc_t()
        OneDNN.check(dnnl_convolution_backward_data_desc_init(&operation, dnnl_convolution_direct, &src, &weights,
                                                              &dst, strides, padding, padding),
                     "dnnl_convolution_backward_data_desc_init(\(g))")
        let primitive = OneDNNPrimitive(operation: &operation, hint: hint, what: "backward data \(g)")
        return pass(primitive, weightLayout: primitive.layout(dnnl_query_weights_md), userWeights: userWeights,
                    towardPrimitive: true)
    }

    private static func makeBackwardWeights(_ g: ConvolutionGeometry, _ src: dnnl_memory_desc_t,
                                            _ dst: dnnl_memory_desc_t, _ userWeights: dnnl_memory_desc_t,
                                            _ biasLayout: dnnl_memory_desc_t, withBias: Bool,
                                            hint: OneDNNPrimitive) -> Pass {
        // A zero descriptor (format kind undef) is oneDNN's "no bias".
        var src = src, dst = dst, biasLayout = withBias ? biasLayout : dnnl_memory_desc_t()
        var weights = anyWeightLayout(g)
        let (strides, padding) = spatial(g)
        var operation = dnnl_convolution_desc_t()
        OneDNN.check(dnnl_convolution_backward_weights_desc_init(&operation, dnnl_convolution_direct, &src,
                                                                 &weights, &biasLayout, &dst,
                                                                 strides, padding, padding),
                     "dnnl_convolution_backward_weights_desc_init(\(g))")
        let primitive = OneDNNPrimitive(operation: &operation, hint: hint, what: "backward weights \(g)")
        return pass(primitive, weightLayout: primitive.layout(dnnl_query_diff_weights_md),
                    userWeights: userWeights, towardPrimitive: false)
    }

    /// The weight memory and reorder for `primitive`, whose weights are laid out as `weightLayout`.
    private static func pass(_ primitive: OneDNNPrimitive, weightLayout: dnnl_memory_desc_t,
                             userWeights: dnnl_memory_desc_t, towardPrimitive: Bool) -> Pass {
        var weightLayout = weightLayout, userWeights = userWeights
        if dnnl_memory_desc_equal(&weightLayout, &userWeights) != 0 {
            return Pass(primitive: primitive, weight: OneDNNMemory(weightLayout), reorder: nil)
        }
        let reorder = towardPrimitive
            ? OneDNNPrimitive(reorderFrom: userWeights, to: weightLayout)
            : OneDNNPrimitive(reorderFrom: weightLayout, to: userWeights)
        return Pass(primitive: primitive, weight: OneDNNMemory(weightLayout, owned: true), reorder: reorder)
    }

    /// Creates the bias variants of forward and backward-weights (once, on the first call with a bias).
    private func makeBiasVariants() -> (forward: Pass, backwardWeights: Pass) {
        if let forwardWithBias, let backwardWeightsWithBias { return (forwardWithBias, backwardWeightsWithBias) }
        let forward = Self.makeForward(geometry, sourceLayout, destinationLayout, userWeightLayout, biasLayout,
                                       withBias: true)
        let backward = Self.makeBackwardWeights(geometry, sourceLayout, destinationLayout, userWeightLayout,
                                                biasLayout, withBias: true, hint: forward.primitive)
        growScratchpad(for: [forward, backward])
        // A larger scratchpad moves it: every primitive's arguments are prepared again.
        prepareForward(forwardPass, withBias: false)
        prepareBackwardData(backwardDataPass)
        prepareBackwardWeights(backwardWeightsPass, withBias: false)
        prepareForward(forward, withBias: true)
        prepareBackwardWeights(backward, withBias: true)
        forwardWithBias = forward
        backwardWeightsWithBias = backward
        return (forward, backward)
    }

    /// Makes the scratchpad large enough for `passes` (reallocating it if it was smaller).
    private func growScratchpad(for passes: [Pass]) {
        let needed = passes.flatMap { [$0.primitive.scratchpadBytes, $0.reorder?.scratchpadBytes ?? 0] }.max() ?? 0
        guard needed > scratchpadBytes || scratchpad == nil else { return }
        scratchpad?.deallocate()
        scratchpadBytes = max(needed, scratchpadBytes)
        scratchpad = .allocate(byteCount: max(scratchpadBytes, 64), alignment: 64)
    }

    private func prepareForward(_ pass: Pass, withBias: Bool) {
        var arguments = [source.argument(DNNL_ARG_SRC), pass.weight.argument(DNNL_ARG_WEIGHTS),
                         destination.argument(DNNL_ARG_DST)]
        if withBias { arguments.append(bias.argument(DNNL_ARG_BIAS)) }
        pass.primitive.prepare(arguments, scratchpad: scratchpad)
        pass.reorder?.prepare([userWeight.argument(DNNL_ARG_FROM), pass.weight.argument(DNNL_ARG_TO)],
                              scratchpad: scratchpad)
    }

    private func prepareBackwardData(_ pass: Pass) {
        pass.primitive.prepare([destination.argument(DNNL_ARG_DIFF_DST), pass.weight.argument(DNNL_ARG_WEIGHTS),
                                source.argument(DNNL_ARG_DIFF_SRC)], scratchpad: scratchpad)
        pass.reorder?.prepare([userWeight.argument(DNNL_ARG_FROM), pass.weight.argument(DNNL_ARG_TO)],
                              scratchpad: scratchpad)
    }

    private func prepareBackwardWeights(_ pass: Pass, withBias: Bool) {
        var arguments = [source.argument(DNNL_ARG_SRC), destination.argument(DNNL_ARG_DIFF_DST),
                         pass.weight.argument(DNNL_ARG_DIFF_WEIGHTS)]
        if withBias { arguments.append(bias.argument(DNNL_ARG_DIFF_BIAS)) }
        pass.primitive.prepare(arguments, scratchpad: scratchpad)
        pass.reorder?.prepare([pass.weight.argument(DNNL_ARG_FROM), userWeight.argument(DNNL_ARG_TO)],
                              scratchpad: scratchpad)
    }
}
