#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Tensors

/// Soft-target cross-entropy, the mean over rows:
///
///     L = −1/n Σᵢ Σⱼ tᵢⱼ · log softmax(zᵢ)ⱼ      log softmax(z)ⱼ = zⱼ − mᵢ − log Σₖ exp(zₖ − mᵢ),  mᵢ = maxₖ zₖ
///
///     z (logits), t (targets): [n, K]; each row of t any non-negative weights (one-hot, mixed, …)
///
/// Subtracting the row maximum keeps every exp ≤ 1 (no overflow). Sums are in Double.
public final class SoftTargetCrossEntropy {
    private let context: LayerContext
    /// softmax(z), cached by forward: [n, K]
    private let probabilities = Tensor(shape: [0])
    private var targets: Tensor?
    private let logitGradient = Tensor(shape: [0])

    public init(_ context: LayerContext) { self.context = context }

    /// Returns L.
    public func forward(logits z: Tensor, targets t: Tensor) -> Double {
        precondition(z.shape.count == 2 && t.count == z.count, "SoftTargetCrossEntropy: logits \(z.shape), targets \(t.shape)")
        let (n, K) = (z.shape[0], z.shape[1])
        probabilities.resize(to: z.shape)
        targets = t
        return context.timed(.loss) {
            var total = 0.0
            for i in 0..<n {
                let zr = z.data + i * K, tr = t.data + i * K, pr = probabilities.data + i * K
                // m = maxₖ zₖ
                var m = zr[0]
                for k in 1..<K { m = max(m, zr[k]) }
                // s = Σₖ exp(zₖ − m)
                var s = 0.0
                for k in 0..<K {
                    let e = exp(Double(zr[k] - m))
                    pr[k] = Float(e)
                    s += e
                }
                let logS = log(s)
                for k in 0..<K {
                    pr[k] = Float(Double(pr[k]) / s)
                    // −tₖ·(zₖ − m − log s)
                    total -= Double(tr[k]) * (Double(zr[k] - m) - logS)
                }
            }
            return total / Double(n)
        }
    }

    /// dL/dzᵢⱼ = (pᵢⱼ·Σₖ tᵢₖ − tᵢⱼ)/n     (= (p − t)/n when the targets are distributions)
    public func backward() -> Tensor {
        guard let t = targets else { preconditionFailure("SoftTargetCrossEntropy.backward before forward") }
        let (n, K) = (probabilities.shape[0], probabilities.shape[1])
        logitGradient.resize(to: probabilities.shape)
        context.timed(.loss) {
            let scale = 1 / Float(n)
            for i in 0..<n {
                let pr = probabilities.data + i * K, tr = t.data + i * K, dz = logitGradient.data + i * K
                var mass: Float = 0
                for k in 0..<K { mass += tr[k] }
                for k in 0..<K { dz[k] = (pr[k] * mass - tr[k]) * scale }
            }
        }
        return logitGradient
    }
}
