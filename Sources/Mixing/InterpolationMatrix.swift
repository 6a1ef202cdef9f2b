import Tensors

/// Λ ∈ ℝ^{b×n}: the interpolation vectors λ₁ … λ_n of MultiMix as its columns (eq. 3 of the paper),
/// stored row-major (row i = example i, column k = mixed example k).
///
///     λ_k ~ Dirichlet(α, …, α)          over all m = b examples, or
///     λ_k ~ Dirichlet(α, …, α) on a random m-subset of the b examples, 0 elsewhere   (m < b)
///
/// Every column is non-negative and sums to 1.
public enum InterpolationMatrix {

    /// Scratch space for `sample`: allocate once, reuse every step.
    public final class Scratch {
        let gammas: UnsafeMutablePointer<Double>
        let indices: UnsafeMutablePointer<Int>
        let weights: UnsafeMutablePointer<Float>
        let capacity: Int

        public init(examples: Int) {
            capacity = max(examples, 1)
            gammas = .allocate(capacity: capacity)
            indices = .allocate(capacity: capacity)
            weights = .allocate(capacity: capacity)
        }

        deinit {
            gammas.deallocate()
            indices.deallocate()
            weights.deallocate()
        }
    }

    /// How Λ is stored.
    public enum Layout: Sendable {
        /// b×n row-major: Λ itself (row i = example i).
        case examplesByMixes
        /// n×b row-major: Λᵀ (row k = the mixed example k's weights, contiguous).
        case mixesByExamples
    }

    /// Fills `lambda` with n Dirichlet(α) columns over m of the b examples each, in `layout`.
    /// `eachColumn`, if given, then sees each freshly drawn column (pointer to λ_k's first weight, and
    /// the distance between its weights) while it is still in cache, to rework it in place.
    public static func sample(into lambda: UnsafeMutablePointer<Float>, examples b: Int, mixes n: Int,
                              examplesPerMix m: Int, alpha: Double, random: inout RandomStream, scratch: Scratch,
                              layout: Layout = .examplesByMixes,
                              eachColumn: ((UnsafeMutablePointer<Float>, Int) -> Void)? = nil) {
        precondition(m >= 1 && m <= b && b <= scratch.capacity, "InterpolationMatrix: m=\(m) b=\(b)")
        let gamma = GammaSampler(shape: alpha)
        var random = MixingGenerator(seededBy: &random)
        // Element (i, k) of Λ is at i·rowStride + k·columnStride.
        let (rowStride, columnStride) = layout == .examplesByMixes ? (n, 1) : (1, b)
        if m < b {
            lambda.update(repeating: 0, count: b * n)
            for i in 0..<b { scratch.indices[i] = i }
        }
        for k in 0..<n {
            let column = lambda + k * columnStride
            if m == b {
                // λ_k ~ Dir(α·1_b)
                random.fillDirichlet(gamma, count: b, into: column, stride: rowStride, scratch: scratch.gammas)
            } else {
                // λ_k ~ Dir(α·1_m) on a random m-subset: the first m places of a partial Fisher–Yates shuffle.
                let chosen = scratch.indices
                for slot in 0..<m {
                    chosen.swapAt(slot, slot + random.nextInt(below: b - slot))
                }
                random.fillDirichlet(gamma, count: m, into: scratch.weights, scratch: scratch.gammas)
                for slot in 0..<m { column[chosen[slot] * rowStride] = scratch.weights[slot] }
            }
            eachColumn?(column, rowStride)
        }
    }
}

extension UnsafeMutablePointer {
    @inline(__always)
    func swapAt(_ i: Int, _ j: Int) {
        let t = self[i]
        self[i] = self[j]
        self[j] = t
    }
}
