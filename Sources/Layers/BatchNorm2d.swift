import Tensors

/// BatchNorm2d with the ReLU and the residual add after it fused into the same passes:
///
///     y = act(γ·x̂ + β [+ r])      x̂ = (x − μ)·rstd      rstd = 1/√(σ² + ε)      act ∈ {relu, identity}
///
///     x, r, y: [n, h, w, C] (NHWC; rows m = n·h·w)     γ, β, μ, σ²: [C]
///
/// Training: μ, σ² are the batch's (biased σ²), and the running statistics move by `momentum`
/// (σ² unbiased there, as PyTorch). Evaluation: μ, σ² are the running statistics.
/// Forward is two passes over x (statistics; normalise+add+activate), backward two over dy
/// (sums; input gradient). Parameters `weight` (γ) and `bias` (β) are trained without weight decay
/// when the optimizer skips norms; `running_mean`, `running_var` are arena buffers.
public final class BatchNorm2d {
    public enum Activation: Sendable { case identity, relu }

    public let channels: Int
    public let activation: Activation
    public let momentum: Float
    public let epsilon: Float
    public let weight: ParameterArena.Slice
    public let bias: ParameterArena.Slice
    public let runningMean: ParameterArena.Slice
    public let runningVariance: ParameterArena.Slice

    private let context: LayerContext
    private var input: Tensor?
    private var hadResidual = false
    private var usedBatchStatistics = true
    public let output = Tensor(shape: [0])
    /// d r = dy·act′: set by a backward whose forward had a residual (a shared gradient buffer:
    /// pin it to keep it across other layers' backward calls).
    public private(set) var residualGradient = Tensor(shape: [0])
    /// [C] each: the μ the last forward used, the rstd the engine's passes used, and the biased σ² of
    /// oneDNN's (its backward takes σ², not rstd).
    private let mean: UnsafeMutablePointer<Float>
    private let rstd: UnsafeMutablePointer<Float>
    private let variance: UnsafeMutablePointer<Float>
    /// oneDNN's primitives (`batchNormBackend == .oneDNN`), per batch shape and ReLU fusion.
    private var oneDNNKernels: [Int: OneDNNBatchNormalization] = [:]
    /// The kernel of the last forward (its backward must use the same one).
    private var lastOneDNNKernel: OneDNNBatchNormalization?
    /// [3C]: the per-channel coefficients of the elementwise pass.
    private let coefficients: UnsafeMutablePointer<Float>
    /// Scratch for `channelSums`: [chunks, 2C] Double totals, then [chunks, 2C] Float partials.
    private var sums: UnsafeMutablePointer<Double>
    private var sumsCapacity = 0

    public init(_ context: LayerContext, name: String, channels: Int, activation: Activation = .identity,
                momentum: Float = 0.1, epsilon: Float = 1e-5) {
        self.context = context
        self.channels = channels
        self.activation = activation
        self.momentum = momentum
        self.epsilon = epsilon
        let arena = context.arena
        weight = arena.register("\(name).weight", shape: [channels], role: .normOrBias, initial: 1)
        bias = arena.register("\(name).bias", shape: [channels], role: .normOrBias, initial: 0)
        runningMean = arena.register("\(name).running_mean", shape: [channels], role: .buffer, initial: 0)
        runningVariance = arena.register("\(name).running_var", shape: [channels], role: .buffer, initial: 1)
        mean = .allocate(capacity: channels)
        rstd = .allocate(capacity: channels)
        variance = .allocate(capacity: channels)
        coefficients = .allocate(capacity: 3 * channels)
        sums = .allocate(capacity: 1)
    }

    deinit {
        mean.deallocate()
        rstd.deallocate()
        variance.deallocate()
        coefficients.deallocate()
        sums.deallocate()
    }

    /// Per-channel sums over all rows, in parallel chunks: `accumulate(rows, s₁, s₂)` adds a block
    /// of at most `blockRows` rows into Float partials s₁, s₂ ([C] each, zeroed before each block);
    /// blocks are then added in Double, so that the inner loops stay in Float (vectorised) and the
    /// rounding of a sum of m terms is that of m/blockRows Double additions. Returns [2C]: Σ s₁, Σ s₂.
    private func channelSums(rows: Int,
                             _ accumulate: (Range<Int>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void)
        -> UnsafeMutablePointer<Double> {
        let C = channels, chunks = Parallel.chunkCount(rows)
        // [chunks, 2C] Double totals, then [chunks, 2C] Float partials.
        let doubles = chunks * 2 * C
        if doubles * 3 / 2 + 1 > sumsCapacity {
            sums.deallocate()
            sumsCapacity = doubles * 3 / 2 + 1
            sums = .allocate(capacity: sumsCapacity)
        }
        let totals = sums
        totals.update(repeating: 0, count: doubles)
        let partialBase = UnsafeMutableRawPointer(sums + doubles).assumingMemoryBound(to: Float.self)
        Parallel.forEachChunk(rows) { chunk, range in
            let total = totals + chunk * 2 * C
            let p1 = partialBase + chunk * 2 * C, p2 = p1 + C
            var start = range.lowerBound
            while start < range.upperBound {
                let stop = min(start + BatchNorm2d.blockRows, range.upperBound)
                p1.update(repeating: 0, count: 2 * C)
                accumulate(start..<stop, p1, p2)
                for j in 0..<(2 * C) { total[j] += Double(p1[j]) }
                start = stop
            }
        }
        for chunk in 1..<chunks {
            for j in 0..<(2 * C) { totals[j] += totals[chunk * 2 * C + j] }
        }
        return totals
    }

    /// Rows per Float partial sum (see `channelSums`).
    static let blockRows = 64

    /// y = act(γ·(x − μ)·rstd + β [+ residual])
    public func forward(_ x: Tensor, residual: Tensor? = nil) -> Tensor {
        precondition(x.shape.last == channels, "BatchNorm2d: input \(x.shape) has not \(channels) channels")
        if let residual { precondition(residual.count == x.count, "BatchNorm2d: residual \(residual.shape), x \(x.shape)") }
        output.resize(to: x.shape)
        input = x
        hadResidual = residual != nil
        usedBatchStatistics = context.isTraining
        lastOneDNNKernel = nil
        context.timed(.batchNormForward) {
            if usedBatchStatistics && context.batchNormBackend == .oneDNN {
                oneDNNForward(x, residual: residual)
            } else {
                forwardPasses(x, residual: residual)
            }
        }
        return output
    }

    /// Channel `c`'s running statistics move by `momentum` towards the batch's μ and biased σ² of
    /// `rows` rows:  running ← (1 − momentum)·running + momentum·batch   (σ² unbiased there: ·m/(m − 1)).
    private func moveRunningStatistics(channel c: Int, mean mu: Float, variance: Double, rows: Int,
                                       _ runMean: UnsafeMutablePointer<Float>, _ runVar: UnsafeMutablePointer<Float>) {
        runMean[c] = (1 - momentum) * runMean[c] + momentum * mu
        let n = Double(rows)
        let unbiased = rows > 1 ? variance * n / (n - 1) : variance
        runVar[c] = (1 - momentum) * runVar[c] + momentum * Float(unbiased)
    }

    /// Training with oneDNN's primitive: y = act(BN(x)) with the ReLU fused when no residual follows;
    /// with a residual, y = act(BN(x) + r) by a second pass over y.
    private func oneDNNForward(_ x: Tensor, residual: Tensor?) {
        let C = channels, rows = x.count / C, arena = context.arena
        let fused = activation == .relu && residual == nil
        let key = rows * 2 + (fused ? 1 : 0)
        let kernel = oneDNNKernels[key] ?? OneDNNBatchNormalization(rows: rows, channels: C, fusesReLU: fused, epsilon: epsilon)
        oneDNNKernels[key] = kernel
        lastOneDNNKernel = kernel
        kernel.forward(x: x.data, gamma: arena.value(weight), beta: arena.value(bias), into: output.data, mean: mean, variance: variance)
        let runMean = arena.value(runningMean), runVar = arena.value(runningVariance)
        for c in 0..<C { moveRunningStatistics(channel: c, mean: mean[c], variance: Double(variance[c]), rows: rows, runMean, runVar) }
        guard let residual else { return }
        let y = output.data, r = residual.data, relu = activation == .relu
        Parallel.forEachChunk(rows) { _, range in
            for i in (range.lowerBound * C)..<(range.upperBound * C) {
                let v = y[i] + r[i]
                y[i] = relu ? max(v, 0) : v
            }
        }
    }

    private func forwardPasses(_ x: Tensor, residual: Tensor?) {
        let C = channels, rows = x.count / C, arena = context.arena
        let gamma = arena.value(weight), beta = arena.value(bias)
        let runMean = arena.value(runningMean), runVar = arena.value(runningVariance)
        if usedBatchStatistics {
            // Pass 1: s₁[c] = Σₘ x[m, c], s₂[c] = Σₘ x[m, c]²
            let s = channelSums(rows: rows) { block, s1, s2 in
                for m in block {
                    let row = x.data + m * C
                    for c in 0..<C {
                        let v = row[c]
                        s1[c] += v
                        s2[c] += v * v
                    }
                }
            }
            let n = Double(rows)
            for c in 0..<C {
                // μ = s₁/m,  σ² = s₂/m − μ²  (biased)
                let mu = s[c] / n
                let variance = max(s[C + c] / n - mu * mu, 0)
                mean[c] = Float(mu)
                rstd[c] = Float(1 / (variance + Double(epsilon)).squareRoot())
                moveRunningStatistics(channel: c, mean: Float(mu), variance: variance, rows: rows, runMean, runVar)
            }
        } else {
            for c in 0..<C {
                mean[c] = runMean[c]
                rstd[c] = 1 / (runVar[c] + epsilon).squareRoot()
            }
        }
        // y = x·a + b₀ [+ r], then act:   a = γ·rstd,  b₀ = β − μ·a
        let scale = coefficients, shift = coefficients + C
        for c in 0..<C {
            scale[c] = gamma[c] * rstd[c]
            shift[c] = beta[c] - mean[c] * scale[c]
        }
        let y = output.data, relu = activation == .relu
        Parallel.forEachChunk(rows) { _, range in
            for m in range {
                let xr = x.data + m * C, yr = y + m * C
                switch (residual?.data, relu) {
                case let (r?, true):
                    let rr = r + m * C
                    for c in 0..<C { yr[c] = max(xr[c] * scale[c] + shift[c] + rr[c], 0) }
                case let (r?, false):
                    let rr = r + m * C
                    for c in 0..<C { yr[c] = xr[c] * scale[c] + shift[c] + rr[c] }
                case (nil, true):
                    for c in 0..<C { yr[c] = max(xr[c] * scale[c] + shift[c], 0) }
                case (nil, false):
                    for c in 0..<C { yr[c] = xr[c] * scale[c] + shift[c] }
                }
            }
        }
    }

    /// With g = dy·act′(y) (act′ = [y > 0] for relu):
    ///     dβ = Σₘ g      dγ = Σₘ g·x̂      d r = g
    ///     dx = γ·rstd·(g − (dβ + x̂·dγ)/m)     (training; batch statistics depend on x)
    ///     dx = γ·rstd·g                         (evaluation; running statistics are constants)
    /// dγ, dβ are written into the arena's gradients; returns dx (a shared gradient buffer).
    public func backward(_ dY: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("BatchNorm2d.backward before forward") }
        precondition(dY.count == x.count, "BatchNorm2d.backward: dY \(dY.shape), x \(x.shape)")
        let inputGradient = context.gradientBuffer(x.shape, avoiding: dY)
        if hadResidual { residualGradient = context.gradientBuffer(x.shape, avoiding: dY, inputGradient) }
        context.timed(.batchNormBackward) {
            if let kernel = lastOneDNNKernel {
                oneDNNBackward(dY, x: x, kernel: kernel, into: inputGradient)
            } else {
                backwardPasses(dY, x: x, into: inputGradient)
            }
        }
        return inputGradient
    }

    /// The backward of `oneDNNForward`: with a residual, g = dy·act′(y) is d r and the primitive's dy;
    /// otherwise the primitive takes dy (and applies the fused ReLU's mask from its workspace).
    private func oneDNNBackward(_ dY: Tensor, x: Tensor, kernel: OneDNNBatchNormalization, into inputGradient: Tensor) {
        let C = channels, rows = x.count / C, arena = context.arena
        var g = UnsafePointer(dY.data)
        if hadResidual {
            let y = output.data, dy = dY.data, dr = residualGradient.data, relu = activation == .relu
            Parallel.forEachChunk(rows) { _, range in
                for i in (range.lowerBound * C)..<(range.upperBound * C) { dr[i] = relu ? dy[i] * (y[i] > 0 ? 1 : 0) : dy[i] }
            }
            g = UnsafePointer(dr)
        }
        kernel.backward(x: x.data, dy: g, gamma: arena.value(weight), beta: arena.value(bias), mean: mean, variance: variance,
                        into: inputGradient.data, dGamma: arena.gradient(weight), dBeta: arena.gradient(bias))
    }

    private func backwardPasses(_ dY: Tensor, x: Tensor, into inputGradient: Tensor) {
        let C = channels, rows = x.count / C, arena = context.arena
        let gamma = arena.value(weight)
        let dGamma = arena.gradient(weight), dBeta = arena.gradient(bias)
        let y = output.data, dy = dY.data, relu = activation == .relu
        let dr: UnsafeMutablePointer<Float>? = hadResidual ? residualGradient.data : nil
        // Pass 1: Σ g and Σ g·x per channel; d r = g.   g = dy·[y > 0] (relu) or dy
        let s = channelSums(rows: rows) { block, sumG, sumGX in
            for m in block {
                let xr = x.data + m * C, yr = y + m * C, dyr = dy + m * C
                if relu {
                    for c in 0..<C {
                        let g = dyr[c] * (yr[c] > 0 ? 1 : 0)
                        sumG[c] += g
                        sumGX[c] += g * xr[c]
                    }
                    if let dr {
                        let drr = dr + m * C
                        for c in 0..<C { drr[c] = dyr[c] * (yr[c] > 0 ? 1 : 0) }
                    }
                } else {
                    for c in 0..<C {
                        sumG[c] += dyr[c]
                        sumGX[c] += dyr[c] * xr[c]
                    }
                    if let dr { (dr + m * C).update(from: dyr, count: C) }
                }
            }
        }
        // dx = A·g + B·x + D:   A = γ·rstd,  B = −γ·rstd²·dγ/m,  D = −γ·rstd·dβ/m − B·μ
        let A = coefficients, B = coefficients + C, D = coefficients + 2 * C
        let n = Double(rows)
        for c in 0..<C {
            let sumG = s[c], sumGX = s[C + c]
            let mu = Double(mean[c]), rs = Double(rstd[c]), gm = Double(gamma[c])
            // dβ = Σ g,  dγ = Σ g·x̂ = rstd·(Σ g·x − μ·Σ g)
            let dg = rs * (sumGX - mu * sumG)
            dBeta[c] = Float(sumG)
            dGamma[c] = Float(dg)
            A[c] = Float(gm * rs)
            if usedBatchStatistics {
                let b = -gm * rs * rs * dg / n
                B[c] = Float(b)
                D[c] = Float(-gm * rs * sumG / n - b * mu)
            } else {
                B[c] = 0
                D[c] = 0
            }
        }
        let dx = inputGradient.data
        Parallel.forEachChunk(rows) { _, range in
            for m in range {
                let xr = x.data + m * C, yr = y + m * C, dyr = dy + m * C, dxr = dx + m * C
                if let dr {
                    // g was stored as d r by pass 1: one stream fewer than recomputing it.
                    let gr = dr + m * C
                    for c in 0..<C { dxr[c] = A[c] * gr[c] + B[c] * xr[c] + D[c] }
                } else if relu {
                    for c in 0..<C { dxr[c] = A[c] * (dyr[c] * (yr[c] > 0 ? 1 : 0)) + B[c] * xr[c] + D[c] }
                } else {
                    for c in 0..<C { dxr[c] = A[c] * dyr[c] + B[c] * xr[c] + D[c] }
                }
            }
        }
    }
}
