#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// Dense MultiMix: MultiMix at every spatial position of the last feature map, weighted by attention.
///
/// F is the encoder's output before pooling, NHWC [b, h, w, d]; position j ∈ 0..<r (r = h·w) holds
/// Z^j, one d-vector per example. With the paper's column convention (Z^j ∈ ℝ^{d×b}, Λ^j ∈ ℝ^{b×n}):
///
///     aᵢʲ  = ReLU(w_{yᵢ}ᵀ zᵢʲ) / Σ_j' ReLU(w_{yᵢ}ᵀ zᵢʲ')        attention: example i's CAM   (eq. 5)
///            (or softmax_j(w_{yᵢ}ᵀ zᵢʲ) with `attentionNormalisation: .softmax`)
///     Mʲ   = diag(aʲ) Λʲ,  each column scaled to sum to 1                                   (eq. 6)
///     Z̃ʲ  = Zʲ Mʲ        Ỹʲ = Y Mʲ                                                       (eq. 7)
///     loss = 1/(n·r) Σ_j Σ_k CE(f(z̃ₖʲ), ỹₖʲ)     f the classifier, shared over positions  (eq. 8)
///
/// Row-major here: Zʲ is b×d (rows of F at position j: leading dimension r·d, no copy), Mʲ is stored
/// transposed (n×b: each mixed example's weights contiguous, as they are drawn), and the mixed rows come
/// out position by position, [r·n, d] and [r·n, c]:
///
///     Z̃ʲᵀ = Mʲᵀ Zʲ      Ỹᵀ = [M¹ᵀ; …; Mʳᵀ] Y  (one sgemm for all positions)      backward: dZʲ = Mʲ dZ̃ʲᵀ
///
/// Λʲ's columns are drawn, weighted by aʲ and normalised in one pass each (eq. 5–6 fused), positions
/// in parallel, each from its own stream.
///
/// The attention is computed from the current classifier weights and is detached: no gradient flows
/// through it. An example whose CAM is zero everywhere attends uniformly (1/r). A column of Mʲ whose
/// attention-weighted sum is 0 falls back to Λʲ's column. As a ``Mixer`` it mixes at `.positions`,
/// reading W from ``MixingContext/classifierWeight``.
public final class DenseMultiMix: Mixer {
    /// How the class activation map becomes attention over positions.
    public enum AttentionNormalisation: String, CaseIterable, Sendable {
        /// ReLU, then divided by the sum over positions (the paper's).
        case reluL1 = "relu-l1"
        /// Softmax over positions: every position keeps some weight, the largest CAM values dominate.
        case softmax
    }

    public let mixedCount: Int
    public let concentration: Concentration
    public let examplesPerMix: Int?
    public let attentionNormalisation: AttentionNormalisation

    /// a (b×r) of the last step.
    public let attention = Tensor(shape: [0])
    /// M¹ᵀ … Mʳᵀ of the last step, [r, n, b]: element (j, k, i) is Mʲᵢₖ.
    public let mixingMatrices = Tensor(shape: [0])
    /// a transposed, [r, b]: position j's attention over the examples, contiguous.
    private let attentionByPosition = Tensor(shape: [0])
    /// Z̃ᵀ for all positions, [r·n, d].
    public let mixedFeatures = Tensor(shape: [0])
    /// Ỹᵀ for all positions, [r·n, c].
    public let mixedTargets = Tensor(shape: [0])
    /// α used at the last step.
    public private(set) var lastAlpha = 0.0

    private let featureGradient = Tensor(shape: [0])
    private var featureShape: [Int] = []
    private var scratches: [InterpolationMatrix.Scratch] = []

    public init(mixedCount: Int = 1000, concentration: Concentration = .multiMixDefault, examplesPerMix: Int? = nil,
                attentionNormalisation: AttentionNormalisation = .reluL1) {
        precondition(mixedCount >= 1, "DenseMultiMix: n must be at least 1")
        precondition(concentration.isValid, "DenseMultiMix: invalid α \(concentration)")
        self.mixedCount = mixedCount
        self.concentration = concentration
        self.examplesPerMix = examplesPerMix
        self.attentionNormalisation = attentionNormalisation
    }

    /// Mixes features F [b, h, w, d] with targets Y (b×c) at every position. `classifierWeight` is W
    /// (c×d, row k = class k's weights), used only for the attention.
    public func forward(features f: Tensor, targets y: Tensor, classifierWeight w: Tensor,
                        randomness: MixingRandomness) -> (features: Tensor, targets: Tensor) {
        precondition(f.shape.count == 4, "DenseMultiMix: features \(f.shape) must be NHWC [b, h, w, d]")
        precondition(y.shape.count == 2 && w.shape == [y.shape[1], f.shape[3]],
                     "DenseMultiMix: classifier weight \(w.shape) must be [classes, d] for targets \(y.shape), features \(f.shape)")
        let (b, r) = (f.shape[0], f.shape[1] * f.shape[2])
        let n = mixedCount
        let m = min(examplesPerMix ?? b, b)
        computeAttention(features: f, targets: y, classifierWeight: w.data)

        var random = randomness.stream()
        lastAlpha = concentration.draw(&random, progress: randomness.progress)
        let alpha = lastAlpha
        mixingMatrices.resize(to: [r, n, b])
        let threads = Parallel.chunkCount(r, minimumChunk: 1)
        if let first = scratches.first, first.capacity < b { scratches = [] }
        while scratches.count < threads { scratches.append(InterpolationMatrix.Scratch(examples: b)) }
        let attentionT = attentionByPosition.data, allM = mixingMatrices.data
        // Positions are independent: each draws Λʲ from its own stream (part j + 1), on any thread.
        Parallel.forEachChunk(r, minimumChunk: 1) { chunk, positions in
            let scratch = scratches[chunk]
            for j in positions {
                let aj = attentionT + j * b
                var stream = randomness.stream(part: j + 1)
                InterpolationMatrix.sample(into: allM + j * n * b, examples: b, mixes: n, examplesPerMix: m, alpha: alpha,
                                           random: &stream, scratch: scratch, layout: .mixesByExamples) { column, _ in
                    DenseMultiMix.weightByAttention(column, attention: aj, examples: b)
                }
            }
        }
        return mix(features: f, targets: y)
    }

    /// aᵢʲ = ReLU(w_{yᵢ}ᵀ zᵢʲ) normalised over j (or the softmax over j of w_{yᵢ}ᵀ zᵢʲ), with yᵢ = argmax
    /// of Y's row i.
    func computeAttention(features f: Tensor, targets y: Tensor, classifierWeight w: UnsafePointer<Float>) {
        let (b, r, d) = (f.shape[0], f.shape[1] * f.shape[2], f.shape[3])
        let c = y.shape[1]
        precondition(y.shape == [b, c], "DenseMultiMix: targets \(y.shape) must be \(b)×c")
        attention.resize(to: [b, r])
        for i in 0..<b {
            let label = DenseMultiMix.argmax(y.data + i * c, count: c)
            let wy = w + label * d
            let ai = attention.data + i * r
            for j in 0..<r {
                let z = f.data + (i * r + j) * d
                var dot: Float = 0
                for e in 0..<d { dot += wy[e] * z[e] }
                ai[j] = dot  // w_yᵀ zᵢʲ, the class activation map
            }
            switch attentionNormalisation {
            case .reluL1:
                var total: Float = 0
                for j in 0..<r { ai[j] = max(ai[j], 0); total += ai[j] }  // ReLU
                let scale = total > 0 ? 1 / total : 0
                for j in 0..<r { ai[j] = total > 0 ? ai[j] * scale : 1 / Float(r) }
            case .softmax:
                var largest = ai[0]
                for j in 1..<r { largest = max(largest, ai[j]) }
                var total: Float = 0
                for j in 0..<r { ai[j] = expf(ai[j] - largest); total += ai[j] }
                for j in 0..<r { ai[j] /= total }
            }
        }
        attentionByPosition.resize(to: [r, b])
        for i in 0..<b { for j in 0..<r { attentionByPosition.data[j * b + i] = attention.data[i * r + j] } }
    }

    /// One column of Mʲ = diag(aʲ) Λʲ, rescaled to sum to 1, in place over Λʲ's column (b contiguous
    /// weights). A column whose weighted sum is 0 keeps Λʲ's weights.
    @inline(__always)
    static func weightByAttention(_ column: UnsafeMutablePointer<Float>, attention a: UnsafePointer<Float>, examples b: Int) {
        // s = Σᵢ aᵢʲ Λʲᵢₖ
        var total: Float = 0
        for i in 0..<b { total += a[i] * column[i] }
        guard total > 0 else { return }
        // Mʲᵢₖ = aᵢʲ Λʲᵢₖ / s
        let scale = 1 / total
        for i in 0..<b { column[i] = a[i] * column[i] * scale }
    }

    /// Z̃ʲᵀ = Mʲᵀ Zʲ for every position and Ỹᵀ = [M¹ᵀ; …; Mʳᵀ] Y, with `mixingMatrices` already set.
    public func mix(features f: Tensor, targets y: Tensor) -> (features: Tensor, targets: Tensor) {
        let (b, r, d) = (f.shape[0], f.shape[1] * f.shape[2], f.shape[3])
        let c = y.shape[1]
        precondition(mixingMatrices.shape.count == 3 && mixingMatrices.shape[0] == r && mixingMatrices.shape[2] == b,
                     "DenseMultiMix: M \(mixingMatrices.shape) does not fit features \(f.shape)")
        let n = mixingMatrices.shape[1]
        featureShape = f.shape
        mixedFeatures.resize(to: [r * n, d])
        mixedTargets.resize(to: [r * n, c])
        for j in 0..<r {
            // Z̃ʲᵀ = Mʲᵀ Zʲ      (n×b · b×d; Zʲ's rows are r·d apart in F)
            BLAS.sgemm(m: n, n: d, k: b, a: mixingMatrices.data + j * n * b, lda: b, b: f.data + j * d, ldb: r * d,
                       c: mixedFeatures.data + j * n * d, ldc: d)
        }
        // Ỹᵀ = [M¹ᵀ; …; Mʳᵀ] Y     (r·n×b · b×c: every position at once)
        BLAS.sgemm(m: r * n, n: c, k: b, a: mixingMatrices.data, lda: b, b: y.data, ldb: c, c: mixedTargets.data, ldc: c)
        return (mixedFeatures, mixedTargets)
    }

    /// dZʲ = Mʲ dZ̃ʲᵀ for every position (b×n · n×d), written into dF [b, h, w, d]; plus, when given,
    /// `pooled` (b×d), a gradient that reached the pooled embeddings Z = 1/r Σ_j Zʲ by another path
    /// (a clean-batch loss): dZʲ += dZ/r.
    public func backward(_ mixedGradient: Tensor, addingPooled pooled: UnsafePointer<Float>? = nil) -> Tensor {
        let (r, n, b) = (mixingMatrices.shape[0], mixingMatrices.shape[1], mixingMatrices.shape[2])
        let d = featureShape[3]
        precondition(mixedGradient.count == r * n * d, "DenseMultiMix.backward: dZ̃ \(mixedGradient.shape) must be [\(r * n), \(d)]")
        featureGradient.resize(to: featureShape)
        for j in 0..<r {
            BLAS.sgemm(.transposed, .none, m: b, n: d, k: n, a: mixingMatrices.data + j * n * b, lda: b,
                       b: mixedGradient.data + j * n * d, ldb: d, c: featureGradient.data + j * d, ldc: r * d)
        }
        if let pooled {
            let share = 1 / Float(r)
            for i in 0..<b {
                let dz = pooled + i * d
                for j in 0..<r {
                    let dF = featureGradient.data + (i * r + j) * d
                    for e in 0..<d { dF[e] += dz[e] * share }
                }
            }
        }
        return featureGradient
    }

    public func stage(for randomness: MixingRandomness, encoderStages: Int) -> MixingStage { .positions }

    /// The rows Z̃ʲᵀ of every position with Ỹᵀ, and the step's m and α for the objective.
    public func forward(_ values: Tensor, targets y: Tensor, context: MixingContext) -> MixedBatch {
        let (rows, targets) = forward(features: values, targets: y, classifierWeight: context.classifierWeight(),
                                      randomness: context.randomness)
        return MixedBatch(values: rows, targets: targets,
                          interpolation: .init(examplesPerMix: examplesPerMix ?? values.shape[0], alpha: lastAlpha))
    }

    static func argmax(_ row: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        for k in 1..<max(count, 1) where row[k] > row[best] { best = k }
        return best
    }
}
