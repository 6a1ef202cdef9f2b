import Tensors

/// MultiMix: n ≫ b mixed examples from one mini-batch, interpolating all b embeddings at once.
///
/// The paper writes embeddings as columns (Z ∈ ℝ^{d×b}, Y ∈ ℝ^{c×b}, Λ ∈ ℝ^{b×n}):
///
///     Z̃ = Z Λ      Ỹ = Y Λ                                    (eq. 3)
///     loss = 1/n Σ_k  CE(f(z̃_k), ỹ_k)                         (eq. 4)
///
/// Here every matrix is row-major with one example per row: Z is b×d, Y is b×c, Λ is b×n, and the
/// mixed batch comes out as Z̃ᵀ (n×d) and Ỹᵀ (n×c):
///
///     Z̃ᵀ = Λᵀ Z        Ỹᵀ = Λᵀ Y        backward: dZ = Λ dZ̃ᵀ   (the paper's dZ = dZ̃ Λᵀ)
///
/// All three are single sgemm calls. Buffers are owned and reused: no allocation per step. As a
/// ``Mixer`` it mixes at `.pooled`.
public final class MultiMix: Mixer {
    /// n, the number of mixed examples per step (per rank).
    public let mixedCount: Int
    /// α of the Dirichlet, fixed or drawn per step.
    public let concentration: Concentration
    /// m, the examples each mixed example interpolates (nil: all b).
    public let examplesPerMix: Int?

    /// Λ (b×n) of the last step.
    public let lambda = Tensor(shape: [0])
    /// Z̃ᵀ (n×d) of the last step.
    public let mixedEmbeddings = Tensor(shape: [0])
    /// Ỹᵀ (n×c) of the last step.
    public let mixedTargets = Tensor(shape: [0])
    /// α used at the last step.
    public private(set) var lastAlpha = 0.0

    private let embeddingGradient = Tensor(shape: [0])
    private var scratch = InterpolationMatrix.Scratch(examples: 0)

    public init(mixedCount: Int = 1000, concentration: Concentration = .multiMixDefault, examplesPerMix: Int? = nil) {
        precondition(mixedCount >= 1, "MultiMix: n must be at least 1")
        precondition(concentration.isValid, "MultiMix: invalid α \(concentration)")
        self.mixedCount = mixedCount
        self.concentration = concentration
        self.examplesPerMix = examplesPerMix
    }

    /// Draws Λ for this step and returns (Z̃ᵀ, Ỹᵀ) for embeddings Z (b×d) and targets Y (b×c).
    public func forward(embeddings z: Tensor, targets y: Tensor,
                        randomness: MixingRandomness) -> (embeddings: Tensor, targets: Tensor) {
        let b = z.shape[0]
        let m = min(examplesPerMix ?? b, b)
        if scratch.capacity < b { scratch = InterpolationMatrix.Scratch(examples: b) }
        var random = randomness.stream()
        lastAlpha = concentration.draw(&random, progress: randomness.progress)
        lambda.resize(to: [b, mixedCount])
        InterpolationMatrix.sample(into: lambda.data, examples: b, mixes: mixedCount, examplesPerMix: m,
                                   alpha: lastAlpha, random: &random, scratch: scratch)
        return mix(embeddings: z, targets: y, with: lambda)
    }

    /// (Z̃ᵀ, Ỹᵀ) = (Λᵀ Z, Λᵀ Y) for a given Λ (b×n): the deterministic half of `forward`, which tests
    /// also call with hand-made Λ. Keeps `lambda` for backward.
    public func mix(embeddings z: Tensor, targets y: Tensor, with lambdaIn: Tensor) -> (embeddings: Tensor, targets: Tensor) {
        precondition(z.shape.count == 2 && y.shape.count == 2 && z.shape[0] == y.shape[0],
                     "MultiMix: Z \(z.shape) and Y \(y.shape) must be b×d and b×c")
        let (b, d, c) = (z.shape[0], z.shape[1], y.shape[1])
        precondition(lambdaIn.shape.count == 2 && lambdaIn.shape[0] == b, "MultiMix: Λ \(lambdaIn.shape) must be \(b)×n")
        let n = lambdaIn.shape[1]
        if lambdaIn !== lambda {
            lambda.resize(to: lambdaIn.shape)
            lambda.data.update(from: lambdaIn.data, count: lambdaIn.count)
        }
        mixedEmbeddings.resize(to: [n, d])
        mixedTargets.resize(to: [n, c])
        // Z̃ᵀ = Λᵀ Z          (n×b · b×d)
        BLAS.sgemm(.transposed, .none, m: n, n: d, k: b, a: lambda.data, lda: n, b: z.data, ldb: d,
                   c: mixedEmbeddings.data, ldc: d)
        // Ỹᵀ = Λᵀ Y          (n×b · b×c)
        BLAS.sgemm(.transposed, .none, m: n, n: c, k: b, a: lambda.data, lda: n, b: y.data, ldb: c,
                   c: mixedTargets.data, ldc: c)
        return (mixedEmbeddings, mixedTargets)
    }

    /// dZ = Λ dZ̃ᵀ   (b×n · n×d): the gradient of the embeddings from that of the mixed embeddings,
    /// plus `direct` (b×d), the gradient that reached Z by another path (a clean-batch loss), if any.
    public func backward(_ mixedGradient: Tensor, addingPooled direct: UnsafePointer<Float>? = nil) -> Tensor {
        let (b, n) = (lambda.shape[0], lambda.shape[1])
        precondition(mixedGradient.shape.count == 2 && mixedGradient.shape[0] == n,
                     "MultiMix.backward: dZ̃ \(mixedGradient.shape) must be \(n)×d")
        let d = mixedGradient.shape[1]
        embeddingGradient.resize(to: [b, d])
        if let direct { embeddingGradient.data.update(from: direct, count: b * d) }
        BLAS.sgemm(.none, .none, m: b, n: d, k: n, a: lambda.data, lda: n, b: mixedGradient.data, ldb: d,
                   beta: direct == nil ? 0 : 1, c: embeddingGradient.data, ldc: d)
        return embeddingGradient
    }

    public func stage(for randomness: MixingRandomness, encoderStages: Int) -> MixingStage { .pooled }

    /// (Z̃ᵀ, Ỹᵀ) for Z (b×d), with the step's m and α for the objective.
    public func forward(_ values: Tensor, targets y: Tensor, context: MixingContext) -> MixedBatch {
        let (rows, targets) = forward(embeddings: values, targets: y, randomness: context.randomness)
        return MixedBatch(values: rows, targets: targets,
                          interpolation: .init(examplesPerMix: examplesPerMix ?? values.shape[0], alpha: lastAlpha))
    }
}
