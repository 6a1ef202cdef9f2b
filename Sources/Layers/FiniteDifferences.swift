import Tensors

/// The test door for gradient checks (package access: tests only, not API).
///
/// Central differences of a loss computed in Double from float32 forwards:
///
///     ∂L/∂θᵢ ≈ (L(θ + h·eᵢ) − L(θ − h·eᵢ)) / 2h      error: O(h²·L‴) truncation + O(δL/h) rounding
package enum FiniteDifferences {
    /// The numeric gradient of `loss` with respect to `values[i]` for each `i` in `indices`,
    /// perturbing in place and restoring.
    package static func gradient(of loss: () -> Double, values: UnsafeMutablePointer<Float>, indices: [Int],
                                 step h: Float) -> [Double] {
        indices.map { i in
            let saved = values[i]
            values[i] = saved + h
            let plus = loss()
            values[i] = saved - h
            let minus = loss()
            values[i] = saved
            // The step actually taken, in float32.
            let taken = Double(saved + h) - Double(saved - h)
            return (plus - minus) / taken
        }
    }

    /// L = Σᵢ rᵢ·yᵢ in Double: a scalar loss whose upstream gradient dL/dy is r.
    package static func weightedSum(_ y: Tensor, _ r: Tensor) -> Double {
        precondition(y.count == r.count, "weightedSum: \(y.shape) · \(r.shape)")
        var total = 0.0
        for i in 0..<y.count { total += Double(y.data[i]) * Double(r.data[i]) }
        return total
    }

    /// The largest |numeric − analytic| over the checked indices, relative to the largest
    /// |analytic| (or to `floor`, whichever is larger).
    package static func relativeError(numeric: [Double], analytic: [Float], floor: Double = 1e-3) -> Double {
        precondition(numeric.count == analytic.count, "relativeError: \(numeric.count) vs \(analytic.count)")
        var worst = 0.0, scale = floor
        for (n, a) in zip(numeric, analytic) {
            worst = max(worst, abs(n - Double(a)))
            scale = max(scale, abs(Double(a)))
        }
        return worst / scale
    }

    /// A unit direction for checking a gradient g of norm `norm` by directional derivatives: g/‖g‖, or
    /// (`tilted`) (2·g/‖g‖ + r)/‖…‖ with r a random unit vector, so that the check sees errors in any
    /// direction and a wrong scale of g in every one. Draws r from `random` either way.
    package static func direction(towards g: [Float], norm: Double, tilted: Bool,
                                  random: inout ParameterInitializer) -> [Double] {
        let count = g.count
        let r = Tensor(shape: [count])
        random.fillNormal(r.data, count: count, std: 1)
        let rNorm = tilted ? r.values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() : .infinity
        let u = (0..<count).map { 2 * Double(g[$0]) / norm + Double(r.data[$0]) / rNorm }
        let uNorm = u.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        return u.map { $0 / uNorm }
    }

    /// A tensor of `shape` with values U(−bound, bound) from `seed`.
    package static func randomTensor(_ shape: [Int], seed: UInt64, bound: Double = 1) -> Tensor {
        let t = Tensor(shape: shape)
        var random = ParameterInitializer(seed: seed)
        random.fillUniform(t.data, count: t.count, bound: bound)
        return t
    }
}
