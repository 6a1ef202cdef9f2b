import Layers
import Tensors
import XCTest

final class LinearTests: XCTestCase {
    /// L = Σ r·y is linear in x, W and b separately: h = 0.5 is exact up to rounding (≲ 1e-6).
    /// Tolerance 1e-4. Covers 2-D rows and a 4-D NHWC map read as rows (per-position classifier).
    func testBackwardMatchesFiniteDifferences() {
        for shape in [[5, 4], [2, 3, 3, 4]] {
            let context = LayerContext()
            let linear = Linear(context, name: "fc", inputFeatures: 4, outputFeatures: 3)
            let arena = context.arena
            arena.finalize()
            var random = ParameterInitializer(seed: 1)
            linear.initialize(&random)
            let x = FiniteDifferences.randomTensor(shape, seed: 2)
            let y = linear.forward(x)
            XCTAssertEqual(y.shape, [x.count / 4, 3])
            let r = FiniteDifferences.randomTensor(y.shape, seed: 3)
            let dx = linear.backward(r).values
            let loss = { FiniteDifferences.weightedSum(linear.forward(x), r) }
            checkGradient("\(shape) dx", loss: loss, values: x.data, count: x.count, analytic: dx, step: 0.5, tolerance: 1e-4)
            checkGradient("\(shape) dW", loss: loss, values: arena.value(linear.weight), count: 12,
                          analytic: gradientValues(arena, linear.weight), step: 0.5, tolerance: 1e-4)
            checkGradient("\(shape) db", loss: loss, values: arena.value(linear.bias!), count: 3,
                          analytic: gradientValues(arena, linear.bias!), step: 0.5, tolerance: 1e-4)
        }
    }
}

final class SoftTargetCrossEntropyTests: XCTestCase {
    /// p = softmax(0, ln 3) = (1/4, 3/4): L(one-hot 0) = ln 4, L(one-hot 1) = ln 4/3; mean ln √(16/3).
    func testByHand() {
        let loss = SoftTargetCrossEntropy(LayerContext())
        let z = Tensor(shape: [2, 2], values: [0, Float(log(3.0)), 0, Float(log(3.0))])
        let t = Tensor(shape: [2, 2], values: [1, 0, 0, 1])
        XCTAssertEqual(loss.forward(logits: z, targets: t), (log(4.0) + log(4.0 / 3)) / 2, accuracy: 1e-6)
        // dz = (p − t)/n
        assertClose(loss.backward().values, [(0.25 - 1) / 2, 0.75 / 2, 0.25 / 2, (0.75 - 1) / 2], tolerance: 1e-6, "dz")
    }

    /// Logits of ±1000 would overflow exp without the max shift.
    func testStableForLargeLogits() {
        let loss = SoftTargetCrossEntropy(LayerContext())
        let value = loss.forward(logits: Tensor(shape: [1, 3], values: [1000, -1000, 0]),
                                 targets: Tensor(shape: [1, 3], values: [0.5, 0, 0.5]))
        XCTAssertEqual(value, 500, accuracy: 1e-3)
        XCTAssertTrue(loss.backward().values.allSatisfy(\.isFinite))
    }

    /// Soft targets (rows summing to 1, and a row summing to 0.7) against central differences.
    /// L is smooth with |∂³L| ≲ 1: h = 1e-2 gives truncation ≈ h²/6 ≈ 2e-5 and rounding
    /// ≈ 2⁻²⁴·L/h ≈ 1e-5, against gradients ≈ 0.05. Tolerance 2e-3.
    func testBackwardMatchesFiniteDifferences() {
        let loss = SoftTargetCrossEntropy(LayerContext())
        let z = FiniteDifferences.randomTensor([4, 5], seed: 1, bound: 3)
        let t = FiniteDifferences.randomTensor([4, 5], seed: 2)
        for row in 0..<4 {
            var sum: Float = 0
            for k in 0..<5 { t[row * 5 + k] = abs(t[row * 5 + k]); sum += t[row * 5 + k] }
            let mass: Float = row == 3 ? 0.7 : 1
            for k in 0..<5 { t[row * 5 + k] *= mass / sum }
        }
        _ = loss.forward(logits: z, targets: t)
        let dz = loss.backward().values
        checkGradient("dz", loss: { loss.forward(logits: z, targets: t) }, values: z.data, count: z.count, analytic: dz,
                      step: 1e-2, tolerance: 2e-3)
    }
}

final class ParameterArenaTests: XCTestCase {
    /// Trainables first in registration order, then buffers; gradients cover trainables only.
    func testLayout() {
        let arena = ParameterArena()
        let a = arena.register("a.weight", shape: [2, 3], role: .weight)
        let m = arena.register("a.running_mean", shape: [4], role: .buffer, initial: 0)
        let b = arena.register("a.bias", shape: [5], role: .normOrBias, initial: 1)
        arena.finalize()
        XCTAssertEqual(arena.trainableCount, 11)
        XCTAssertEqual(arena.valueCount, 15)
        XCTAssertEqual(arena.entry(a).offset, 0)
        XCTAssertEqual(arena.entry(b).offset, 6)
        XCTAssertEqual(arena.entry(m).offset, 11)
        XCTAssertEqual(arena.value(b)[4], 1)
        XCTAssertEqual(arena.entry(named: "a.running_mean")?.shape, [4])
        XCTAssertEqual(arena.entries.map(\.name), ["a.weight", "a.running_mean", "a.bias"])
    }
}

final class GradientBufferTests: XCTestCase {
    /// A buffer is never one the caller is reading or has pinned; unpinned buffers are reused.
    func testBusyAndPinnedBuffersAreAvoided() {
        let context = LayerContext()
        let a = context.gradientBuffer([4])
        let b = context.gradientBuffer([4], avoiding: a)
        XCTAssertFalse(a === b)
        context.pin(b)
        let c = context.gradientBuffer([2, 3], avoiding: a)
        XCTAssertFalse(c === a || c === b)
        XCTAssertEqual(c.shape, [2, 3])
        context.unpin(b)
        XCTAssertTrue(context.gradientBuffer([4], avoiding: a) === b)
        XCTAssertTrue(context.gradientBuffer([8]) === a, "the first free buffer is reused (and grown)")
    }
}
