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
        /// Per-column space for callers that post-process Λ (Dense MultiMix's column sums).
        let columns: UnsafeMutablePointer<Float>
        let capacity: Int
        let columnCapacity: Int

        public init(examples: Int, mixes: Int = 0) {
            capacity = max(examples, 1)
            columnCapacity = max(mixes, 1)
            gammas = .allocate(capacity: capacity)
            indices = .allocate(capacity: capacity)
            weights = .allocate(capacity: capacity)
            columns = .allocate(capacity: columnCapacity)
        }

        deinit {
            columns.deallocate()
            gammas.deallocate()
            indices.deallocate()
            weights.deallocate()
        }
    }

    /// Fills `lambda` (b×n, row-major, leading dimension n) with n Dirichlet(α) columns over m of the b
    /// examples each.
    public static func sample(into lambda: UnsafeMutablePointer<Float>, examples b: Int, mixes n: Int,
                              examplesPerMix m: Int, alpha: Double, random: inout RandomStream, scratch: Scratch) {
        precondition(m >= 1 && m <= b && b <= scratch.capacity, "InterpolationMatrix: m=\(m) b=\(b)")
        let gamma = GammaSampler(shape: alpha)
        if m == b {
            for k in 0..<n {
                // column k: λ_k ~ Dir(α·1_b)
                random.fillDirichlet(gamma, count: b, into: lambda + k, stride: n, scratch: scratch.gammas)
            }
            return
        }
        lambda.update(repeating: 0, count: b * n)
        let chosen = scratch.indices, weights = scratch.weights
        for i in 0..<b { chosen[i] = i }
        for k in 0..<n {
            // A random m-subset: the first m places of a partial Fisher–Yates shuffle.
            for slot in 0..<m {
                let other = slot + random.nextInt(below: b - slot)
                chosen.swapAt(slot, other)
            }
            random.fillDirichlet(gamma, count: m, into: weights, scratch: scratch.gammas)
            for slot in 0..<m { lambda[chosen[slot] * n + k] = weights[slot] }
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
