import Layers
import Tensors
import XCTest

final class BatchNorm2dTests: XCTestCase {
    /// Two channels, 4 rows each: channel 0 = 1, 2, 3, 4 (μ = 2.5, σ² = 1.25), channel 1 = 0, 0, 0, 8
    /// (μ = 2, σ² = 12). Expected values computed by hand from the formulas, in Double.
    func testTrainingAndEvaluationByHand() {
        let context = LayerContext()
        let bn = BatchNorm2d(context, name: "bn", channels: 2)
        let arena = context.arena
        arena.finalize()
        arena.value(bn.weight)[1] = 2     // γ = (1, 2)
        arena.value(bn.bias)[1] = -1      // β = (0, −1)
        let x = Tensor(shape: [2, 1, 2, 2], values: [1, 0, 2, 0, 3, 0, 4, 8])
        let y = bn.forward(x).values
        let eps = 1e-5
        let r0 = 1 / (1.25 + eps).squareRoot(), r1 = 1 / (12 + eps).squareRoot()
        let expected = [(1 - 2.5) * r0, 2 * (0 - 2) * r1 - 1, (2 - 2.5) * r0, 2 * (0 - 2) * r1 - 1,
                        (3 - 2.5) * r0, 2 * (0 - 2) * r1 - 1, (4 - 2.5) * r0, 2 * (8 - 2) * r1 - 1]
        assertClose(y, expected, tolerance: 1e-5, "train y")
        // running = 0.9·initial + 0.1·batch, with the unbiased variance σ²·m/(m − 1)
        let mean = Array(UnsafeBufferPointer(start: arena.value(bn.runningMean), count: 2))
        let variance = Array(UnsafeBufferPointer(start: arena.value(bn.runningVariance), count: 2))
        assertClose(mean, [0.25, 0.2], tolerance: 1e-6, "running_mean")
        assertClose(variance, [0.9 + 0.1 * 1.25 * 4 / 3, 0.9 + 0.1 * 12 * 4 / 3], tolerance: 1e-6, "running_var")
        // Evaluation: y = γ·(x − running_mean)/√(running_var + ε) + β
        context.isTraining = false
        let ye = bn.forward(x).values
        let e0 = 1 / (Double(variance[0]) + eps).squareRoot(), e1 = 1 / (Double(variance[1]) + eps).squareRoot()
        let m0 = Double(mean[0]), m1 = Double(mean[1])
        let expectedEval = [(1 - m0) * e0, 2 * (0 - m1) * e1 - 1, (2 - m0) * e0, 2 * (0 - m1) * e1 - 1,
                            (3 - m0) * e0, 2 * (0 - m1) * e1 - 1, (4 - m0) * e0, 2 * (8 - m1) * e1 - 1]
        assertClose(ye, expectedEval, tolerance: 1e-5, "eval y")
        // Evaluation leaves the running statistics alone.
        XCTAssertEqual(arena.value(bn.runningMean)[0], mean[0])
    }

    /// The forward pass against a Double reference of y = relu(γ·(x − μ)/√(σ² + ε) + β + r) with the
    /// batch's μ and biased σ², for several channel counts, with and without the residual.
    func testForwardMatchesADoubleReferenceForEveryChannelCount() {
        for backend in BatchNormBackend.allCases { for C in [5, 16, 20, 64] {
            for withResidual in [false, true] {
                let context = LayerContext()
                context.batchNormBackend = backend
                let bn = BatchNorm2d(context, name: "bn", channels: C, activation: .relu)
                let arena = context.arena
                arena.finalize()
                var random = ParameterInitializer(seed: 3)
                random.fillUniform(arena.value(bn.weight), count: C, bound: 1)
                random.fillUniform(arena.value(bn.bias), count: C, bound: 1)
                let x = FiniteDifferences.randomTensor([4, 5, 3, C], seed: 5), r = FiniteDifferences.randomTensor(x.shape, seed: 6)
                let y = bn.forward(x, residual: withResidual ? r : nil).values
                let rows = x.count / C
                var expected = [Double](repeating: 0, count: x.count)
                for c in 0..<C {
                    let column = (0..<rows).map { Double(x[$0 * C + c]) }
                    let mu = column.reduce(0, +) / Double(rows)
                    let variance = column.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(rows)
                    let gamma = Double(arena.value(bn.weight)[c]), beta = Double(arena.value(bn.bias)[c])
                    for m in 0..<rows {
                        let v = gamma * (column[m] - mu) / (variance + 1e-5).squareRoot() + beta + (withResidual ? Double(r[m * C + c]) : 0)
                        expected[m * C + c] = max(v, 0)
                    }
                }
                assertClose(y, expected, tolerance: 1e-5, "\(backend): \(C) channels, residual \(withResidual)")
            }
        } }
    }

    /// Backward against central differences, with ReLU and a residual, in training and evaluation.
    /// The residual is chosen so that every pre-activation starts at ±(0.2…1.2): a step of
    /// h = 1e-2 moves a pre-activation by at most ≈ h·γ·rstd·(1 + 1/m) < 0.05, so no ReLU kink is
    /// crossed and L is smooth. Truncation error O(h²) ≈ 1e-4 relative; rounding √N·2⁻²⁴/h ≈ 5e-5.
    /// Tolerance 2e-3. Channel counts 3, 20 and 48 (the loops run over whole rows of C channels).
    func testBackwardMatchesFiniteDifferences() {
        for backend in BatchNormBackend.allCases {
        for (training, activation, C) in [true, false].flatMap({ t in [BatchNorm2d.Activation.relu, .identity].flatMap { a in [3, 20, 48].map { (t, a, $0) } } }) {
            do {
                var (bn, context, random) = randomNorm(channels: C, activation: activation, backend: backend, seed: 7)
                let arena = context.arena
                random.fillUniform(arena.value(bn.runningMean), count: C, bound: 0.5)
                let x = FiniteDifferences.randomTensor([3, 3, 2, C], seed: 11)
                // Pre-activations s = ±(0.2 + u): r = s − BN(x).
                context.isTraining = training
                let z = normalized(x, like: bn, in: arena, training: training)
                let s = FiniteDifferences.randomTensor(x.shape, seed: 13)
                for i in 0..<s.count { s[i] = (s[i] < 0 ? -0.2 : 0.2) + s[i] }
                let residual = Tensor(shape: x.shape)
                for i in 0..<x.count { residual[i] = s[i] - z[i] }
                let upstream = FiniteDifferences.randomTensor(x.shape, seed: 17)
                // The running statistics move on every training forward: save and restore them.
                let savedStatistics = Array(UnsafeBufferPointer(start: arena.value(bn.runningMean), count: 2 * C))
                let loss = { () -> Double in
                    let result = FiniteDifferences.weightedSum(bn.forward(x, residual: residual), upstream)
                    arena.value(bn.runningMean).update(from: savedStatistics, count: 2 * C)
                    return result
                }
                _ = loss()
                let dx = bn.backward(upstream).values
                let dr = bn.residualGradient.values
                let what = "\(backend): training \(training) \(activation) \(C) channels"
                checkGradient("\(what) dx", loss: loss, values: x.data, count: x.count, analytic: dx, step: 1e-2, tolerance: 2e-3)
                checkGradient("\(what) dr", loss: loss, values: residual.data, count: x.count, analytic: dr, step: 1e-2,
                              tolerance: 2e-3)
                checkGradient("\(what) dγ", loss: loss, values: arena.value(bn.weight), count: C,
                              analytic: gradientValues(arena, bn.weight), step: 1e-2, tolerance: 2e-3)
                checkGradient("\(what) dβ", loss: loss, values: arena.value(bn.bias), count: C,
                              analytic: gradientValues(arena, bn.bias), step: 1e-2, tolerance: 2e-3)
            }
        }
        }
    }

    /// oneDNN's primitives against the engine's passes on the same data, in training: y, the running
    /// statistics, dx, d r, dγ and dβ, with ReLU fused (no residual), ReLU after a residual, and no
    /// activation; 3 to 64 channels, 8 to 800 rows. Both compute in Float in their own order: 1e-4 of
    /// the largest value. (With 2 rows a channel whose two values nearly agree has σ² near ε, where
    /// either is as right as the other and they part by 3e-4.)
    func testOneDNNMatchesTheEnginesPasses() {
        for (C, shape) in [(3, [2, 2, 2]), (16, [2, 5, 5]), (24, [4, 3, 3]), (64, [8, 10, 10])] {
            for (activation, withResidual) in [(BatchNorm2d.Activation.relu, false), (.relu, true), (.identity, false), (.identity, true)] {
                var results: [[[Float]]] = []
                for backend in [BatchNormBackend.engine, .oneDNN] {
                    let (bn, context, _) = randomNorm(channels: C, activation: activation, backend: backend, seed: 21)
                    let arena = context.arena
                    let x = FiniteDifferences.randomTensor(shape + [C], seed: 23), r = FiniteDifferences.randomTensor(x.shape, seed: 29)
                    for i in 0..<x.count { x[i] = 3 * x[i] + 0.5 }
                    let y = bn.forward(x, residual: withResidual ? r : nil).values
                    let statistics = Array(UnsafeBufferPointer(start: arena.value(bn.runningMean), count: 2 * C))
                    let dx = bn.backward(FiniteDifferences.randomTensor(x.shape, seed: 31)).values
                    let dr = withResidual ? bn.residualGradient.values : []
                    results.append([y, statistics, dx, dr, gradientValues(arena, bn.weight), gradientValues(arena, bn.bias)])
                }
                for (index, name) in ["y", "running statistics", "dx", "dr", "dγ", "dβ"].enumerated() {
                    let (engine, oneDNN) = (results[0][index], results[1][index])
                    XCTAssertEqual(engine.count, oneDNN.count, name)
                    let scale = max(1, engine.map { abs($0) }.max() ?? 0)
                    let worst = zip(engine, oneDNN).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThan(worst, 1e-4 * scale, "\(name): \(C) channels \(shape), \(activation), residual \(withResidual)")
                }
            }
        }
    }
}

/// A finalized BatchNorm2d of `channels` on `backend`, γ and β drawn uniform in [−1, 1] from `seed`.
private func randomNorm(channels C: Int, activation: BatchNorm2d.Activation, backend: BatchNormBackend, seed: UInt64)
    -> (bn: BatchNorm2d, context: LayerContext, random: ParameterInitializer) {
    let context = LayerContext()
    context.batchNormBackend = backend
    let bn = BatchNorm2d(context, name: "bn", channels: C, activation: activation)
    context.arena.finalize()
    var random = ParameterInitializer(seed: seed)
    random.fillUniform(context.arena.value(bn.weight), count: C, bound: 1)
    random.fillUniform(context.arena.value(bn.bias), count: C, bound: 1)
    return (bn, context, random)
}

/// BN(x) without activation or residual, with `bn`'s parameters and statistics, computed by a
/// scratch copy of the layer (so that `bn` and its running statistics are untouched).
private func normalized(_ x: Tensor, like bn: BatchNorm2d, in arena: ParameterArena, training: Bool) -> Tensor {
    let context = LayerContext()
    let probe = BatchNorm2d(context, name: "probe", channels: bn.channels)
    context.arena.finalize()
    context.isTraining = training
    for (from, to) in [(bn.weight, probe.weight), (bn.bias, probe.bias), (bn.runningMean, probe.runningMean),
                       (bn.runningVariance, probe.runningVariance)] {
        context.arena.value(to).update(from: arena.value(from), count: bn.channels)
    }
    let y = probe.forward(x)
    let copy = Tensor(shape: y.shape)
    copy.copy(from: y)
    return copy
}
