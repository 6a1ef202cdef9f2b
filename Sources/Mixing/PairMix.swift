import Tensors

/// Mixup of pairs, for input mixup (on images) and manifold mixup (on a hidden state):
///
///     λ ~ Beta(α, α),  π a random permutation of the batch
///     x̃ᵢ = λ xᵢ + (1 − λ) x_{π(i)}        ỹᵢ = λ yᵢ + (1 − λ) y_{π(i)}
///     backward: dxᵢ = λ dx̃ᵢ + (1 − λ) dx̃_{π⁻¹(i)}
///
/// `x` is any tensor whose first axis is the batch (NHWC images, hidden feature maps, embeddings).
public final class PairMix {
    /// α of Beta(α, α).
    public let concentration: Concentration
    /// λ of the last step.
    public private(set) var lambda: Float = 1
    /// π of the last step.
    public private(set) var permutation: [Int] = []

    public let mixedInput = Tensor(shape: [0])
    public let mixedTargets = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(concentration: Concentration = .fixed(1)) {
        precondition(concentration.isValid, "PairMix: invalid α \(concentration)")
        self.concentration = concentration
    }

    /// Draws λ and π, and returns (x̃, ỹ).
    public func forward(_ x: Tensor, targets y: Tensor, randomness: MixingRandomness) -> (input: Tensor, targets: Tensor) {
        var random = randomness.stream()
        let alpha = concentration.draw(&random, progress: randomness.progress)
        let lambda = Float(random.nextBeta(alpha, alpha))
        let permutation = random.permutation(count: x.shape[0])
        return mix(x, targets: y, lambda: lambda, permutation: permutation)
    }

    /// (x̃, ỹ) for a given λ and π: the deterministic half of `forward`.
    public func mix(_ x: Tensor, targets y: Tensor, lambda: Float, permutation: [Int]) -> (input: Tensor, targets: Tensor) {
        let b = x.shape[0]
        precondition(permutation.count == b && y.shape[0] == b, "PairMix: batch sizes disagree")
        self.lambda = lambda
        self.permutation = permutation
        mixedInput.resize(to: x.shape)
        mixedTargets.resize(to: y.shape)
        PairMix.combine(x, into: mixedInput, lambda: lambda, permutation: permutation)
        PairMix.combine(y, into: mixedTargets, lambda: lambda, permutation: permutation)
        return (mixedInput, mixedTargets)
    }

    /// dxᵢ = λ dx̃ᵢ, then dx_{π(i)} += (1 − λ) dx̃ᵢ.
    public func backward(_ mixedGradient: Tensor) -> Tensor {
        let b = mixedGradient.shape[0], row = mixedGradient.count / max(b, 1)
        inputGradient.resize(to: mixedGradient.shape)
        let g = mixedGradient.data, dx = inputGradient.data
        for e in 0..<mixedGradient.count { dx[e] = lambda * g[e] }
        for i in 0..<b {
            let source = g + i * row, target = dx + permutation[i] * row
            for e in 0..<row { target[e] += (1 - lambda) * source[e] }
        }
        return inputGradient
    }

    /// outᵢ = λ vᵢ + (1 − λ) v_{π(i)} for every row i of v.
    static func combine(_ v: Tensor, into out: Tensor, lambda: Float, permutation: [Int]) {
        let b = v.shape[0], row = v.count / max(b, 1)
        for i in 0..<b {
            let a = v.data + i * row, partner = v.data + permutation[i] * row, o = out.data + i * row
            for e in 0..<row { o[e] = lambda * a[e] + (1 - lambda) * partner[e] }
        }
    }
}
