import Tensors

/// Dense MultiMix: MultiMix at every spatial position of the last feature map, weighted by attention.
///
/// F is the encoder's output before pooling, NHWC [b, h, w, d]; position j ∈ 0..<r (r = h·w) holds
/// Z^j, one d-vector per example. With the paper's column convention (Z^j ∈ ℝ^{d×b}, Λ^j ∈ ℝ^{b×n}):
///
///     aᵢʲ  = ReLU(w_{yᵢ}ᵀ zᵢʲ) / Σ_j' ReLU(w_{yᵢ}ᵀ zᵢʲ')        attention: example i's CAM   (eq. 5)
///     Mʲ   = diag(aʲ) Λʲ,  each column scaled to sum to 1                                   (eq. 6)
///     Z̃ʲ  = Zʲ Mʲ        Ỹʲ = Y Mʲ                                                       (eq. 7)
///     loss = 1/(n·r) Σ_j Σ_k CE(f(z̃ₖʲ), ỹₖʲ)     f the classifier, shared over positions  (eq. 8)
///
/// Row-major here: Zʲ is b×d (rows of F at position j: leading dimension r·d, no copy), and the mixed
/// rows come out position by position, [r·n, d] and [r·n, c]:
///
///     Z̃ʲᵀ = Mʲᵀ Zʲ      Ỹʲᵀ = Mʲᵀ Y      backward: dZʲ = Mʲ dZ̃ʲᵀ
///
/// The attention is computed from the current classifier weights and is detached: no gradient flows
/// through it. An example whose CAM is zero everywhere attends uniformly (1/r). A column of Mʲ whose
/// attention-weighted sum is 0 falls back to Λʲ's column.
public final class DenseMultiMix {
    public let mixedCount: Int
    public let concentration: Concentration
    public let examplesPerMix: Int?

    /// a (b×r) of the last step.
    public let attention = Tensor(shape: [0])
    /// M¹ … Mʳ (r×b×n) of the last step.
    public let mixingMatrices = Tensor(shape: [0])
    /// Z̃ᵀ for all positions, [r·n, d].
    public let mixedFeatures = Tensor(shape: [0])
    /// Ỹᵀ for all positions, [r·n, c].
    public let mixedTargets = Tensor(shape: [0])
    /// α used at the last step.
    public private(set) var lastAlpha = 0.0

    private let featureGradient = Tensor(shape: [0])
    private var featureShape: [Int] = []
    private var scratches: [InterpolationMatrix.Scratch] = []

    public init(mixedCount: Int = 1000, concentration: Concentration = .multiMixDefault, examplesPerMix: Int? = nil) {
        precondition(mixedCount >= 1, "DenseMultiMix: n must be at least 1")
        precondition(concentration.isValid, "DenseMultiMix: invalid α \(concentration)")
        self.mixedCount = mixedCount
        self.concentration = concentration
        self.examplesPerMix = examplesPerMix
    }

    /// Mixes features F [b, h, w, d] with targets Y (b×c) at every position. `classifierWeight` is W
    /// (c×d, row k = class k's weights), used only for the attention.
    public func forward(features f: Tensor, targets y: Tensor, classifierWeight w: UnsafePointer<Float>,
                        randomness: MixingRandomness) -> (features: Tensor, targets: Tensor) {
        precondition(f.shape.count == 4, "DenseMultiMix: features \(f.shape) must be NHWC [b, h, w, d]")
        let (b, r, d) = (f.shape[0], f.shape[1] * f.shape[2], f.shape[3])
        let n = mixedCount
        let m = min(examplesPerMix ?? b, b)
        computeAttention(features: f, targets: y, classifierWeight: w)

        var random = randomness.stream()
        lastAlpha = concentration.draw(&random)
        let alpha = lastAlpha
        mixingMatrices.resize(to: [r, b, n])
        let threads = Parallel.chunkCount(r, minimumChunk: 1)
        if let first = scratches.first, first.capacity < b || first.columnCapacity < n { scratches = [] }
        while scratches.count < threads { scratches.append(InterpolationMatrix.Scratch(examples: b, mixes: n)) }
        let a = attention.data, allM = mixingMatrices.data
        // Positions are independent: each draws Λʲ from its own stream (part j + 1), on any thread.
        Parallel.forEachChunk(r, minimumChunk: 1) { chunk, positions in
            let scratch = scratches[chunk]
            for j in positions {
                let mj = allM + j * b * n
                var stream = randomness.stream(part: j + 1)
                InterpolationMatrix.sample(into: mj, examples: b, mixes: n, examplesPerMix: m, alpha: alpha,
                                           random: &stream, scratch: scratch)
                DenseMultiMix.weightByAttention(mj, attention: a, position: j, positions: r, examples: b, mixes: n,
                                                columnSums: scratch.columns)
            }
        }
        return mix(features: f, targets: y)
    }

    /// aᵢʲ = ReLU(w_{yᵢ}ᵀ zᵢʲ) normalised over j, with yᵢ = argmax of Y's row i.
    func computeAttention(features f: Tensor, targets y: Tensor, classifierWeight w: UnsafePointer<Float>) {
        let (b, r, d) = (f.shape[0], f.shape[1] * f.shape[2], f.shape[3])
        let c = y.shape[1]
        precondition(y.shape == [b, c], "DenseMultiMix: targets \(y.shape) must be \(b)×c")
        attention.resize(to: [b, r])
        for i in 0..<b {
            let label = DenseMultiMix.argmax(y.data + i * c, count: c)
            let wy = w + label * d
            let ai = attention.data + i * r
            var total: Float = 0
            for j in 0..<r {
                let z = f.data + (i * r + j) * d
                var dot: Float = 0
                for e in 0..<d { dot += wy[e] * z[e] }
                ai[j] = max(dot, 0)  // ReLU(w_yᵀ z)
                total += ai[j]
            }
            let scale = total > 0 ? 1 / total : 0
            for j in 0..<r { ai[j] = total > 0 ? ai[j] * scale : 1 / Float(r) }
        }
    }

    /// Mʲ = diag(aʲ) Λʲ with columns rescaled to sum to 1, in place over Λʲ (b×n).
    static func weightByAttention(_ mj: UnsafeMutablePointer<Float>, attention a: UnsafePointer<Float>,
                                  position j: Int, positions r: Int, examples b: Int, mixes n: Int,
                                  columnSums sums: UnsafeMutablePointer<Float>) {
        // Σᵢ aᵢʲ Λʲᵢₖ for every column k, row by row (Λʲ is row-major).
        sums.update(repeating: 0, count: n)
        for i in 0..<b {
            let aij = a[i * r + j], row = mj + i * n
            for k in 0..<n { sums[k] += aij * row[k] }
        }
        for k in 0..<n { sums[k] = sums[k] > 0 ? 1 / sums[k] : 0 }
        for i in 0..<b {
            let aij = a[i * r + j], row = mj + i * n
            for k in 0..<n where sums[k] > 0 {
                row[k] = aij * row[k] * sums[k]  // (diag(aʲ) Λʲ)ᵢₖ / Σ     (else: Λʲ's column as is)
            }
        }
    }

    /// Z̃ʲᵀ = Mʲᵀ Zʲ and Ỹʲᵀ = Mʲᵀ Y for every position, with `mixingMatrices` already set.
    public func mix(features f: Tensor, targets y: Tensor) -> (features: Tensor, targets: Tensor) {
        let (b, r, d) = (f.shape[0], f.shape[1] * f.shape[2], f.shape[3])
        let c = y.shape[1]
        precondition(mixingMatrices.shape.count == 3 && mixingMatrices.shape[0] == r && mixingMatrices.shape[1] == b,
                     "DenseMultiMix: M \(mixingMatrices.shape) does not fit features \(f.shape)")
        let n = mixingMatrices.shape[2]
        featureShape = f.shape
        mixedFeatures.resize(to: [r * n, d])
        mixedTargets.resize(to: [r * n, c])
        for j in 0..<r {
            let mj = mixingMatrices.data + j * b * n
            // Z̃ʲᵀ = Mʲᵀ Zʲ      (n×b · b×d; Zʲ's rows are r·d apart in F)
            BLAS.sgemm(.transposed, .none, m: n, n: d, k: b, a: mj, lda: n, b: f.data + j * d, ldb: r * d,
                       c: mixedFeatures.data + j * n * d, ldc: d)
            // Ỹʲᵀ = Mʲᵀ Y       (n×b · b×c)
            BLAS.sgemm(.transposed, .none, m: n, n: c, k: b, a: mj, lda: n, b: y.data, ldb: c,
                       c: mixedTargets.data + j * n * c, ldc: c)
        }
        return (mixedFeatures, mixedTargets)
    }

    /// dZʲ = Mʲ dZ̃ʲᵀ for every position (b×n · n×d), written into dF [b, h, w, d].
    public func backward(_ mixedGradient: Tensor) -> Tensor {
        let (r, b, n) = (mixingMatrices.shape[0], mixingMatrices.shape[1], mixingMatrices.shape[2])
        let d = featureShape[3]
        precondition(mixedGradient.count == r * n * d, "DenseMultiMix.backward: dZ̃ \(mixedGradient.shape) must be [\(r * n), \(d)]")
        featureGradient.resize(to: featureShape)
        for j in 0..<r {
            BLAS.sgemm(.none, .none, m: b, n: d, k: n, a: mixingMatrices.data + j * b * n, lda: n,
                       b: mixedGradient.data + j * n * d, ldb: d, c: featureGradient.data + j * d, ldc: r * d)
        }
        return featureGradient
    }

    static func argmax(_ row: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        for k in 1..<max(count, 1) where row[k] > row[best] { best = k }
        return best
    }
}
