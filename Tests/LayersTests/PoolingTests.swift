import Layers
import Tensors
import XCTest

/// Pooling, ReLU and the option-A shortcut against central differences.
/// Average pooling and the shortcut are linear (any step is exact: h = 0.5, tolerance 1e-4 as for
/// Conv2d). ReLU and max pooling are piecewise linear: inputs are kept ≥ 0.1 from every kink
/// (|x| ≥ 0.1 for ReLU; values on a grid 0.1 apart for max) and h = 1e-2, so each difference is
/// again exact up to rounding ≈ √N·2⁻²⁴/h ≈ 1e-5. Tolerance 1e-3.
final class PoolingTests: XCTestCase {
    /// Distinct values 0.1 apart in a seeded shuffled order.
    func spacedTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        let t = Tensor(shape: shape)
        let keys = FiniteDifferences.randomTensor(shape, seed: seed).values
        let order = keys.indices.sorted { keys[$0] < keys[$1] }
        for (rank, i) in order.enumerated() { t[i] = Float(rank) * 0.1 - Float(order.count) * 0.05 }
        return t
    }

    func check(_ name: String, input x: Tensor, step: Float, tolerance: Double,
               forward: @escaping (Tensor) -> Tensor, backward: (Tensor) -> Tensor,
               file: StaticString = #filePath, line: UInt = #line) {
        let y = forward(x)
        let r = FiniteDifferences.randomTensor(y.shape, seed: 99)
        let dx = backward(r).values
        checkGradient(name, loss: { FiniteDifferences.weightedSum(forward(x), r) }, values: x.data, count: x.count,
                      analytic: dx, step: step, tolerance: tolerance, file: file, line: line)
    }

    func testGlobalAveragePool() {
        let pool = GlobalAveragePool(LayerContext())
        let x = FiniteDifferences.randomTensor([2, 3, 5, 4], seed: 1)
        XCTAssertEqual(pool.forward(x).shape, [2, 4])
        check("global average", input: x, step: 0.5, tolerance: 1e-4, forward: pool.forward, backward: pool.backward)
    }

    func testAveragePool() {
        for (k, s) in [(2, 2), (3, 1), (3, 2)] {
            let pool = AveragePool2d(LayerContext(), kernelSize: k, stride: s)
            let x = FiniteDifferences.randomTensor([2, 5, 5, 3], seed: 2)
            XCTAssertEqual(pool.forward(x).shape, [2, (5 - k) / s + 1, (5 - k) / s + 1, 3])
            check("average \(k) \(s)", input: x, step: 0.5, tolerance: 1e-4, forward: pool.forward, backward: pool.backward)
        }
    }

    func testMaxPool() {
        for (k, s, p) in [(3, 2, 1), (2, 2, 0), (3, 1, 1)] {
            let pool = MaxPool2d(LayerContext(), kernelSize: k, stride: s, padding: p)
            let x = spacedTensor([2, 5, 5, 3], seed: 3)
            let h = (5 + 2 * p - k) / s + 1
            XCTAssertEqual(pool.forward(x).shape, [2, h, h, 3])
            check("max \(k) \(s) \(p)", input: x, step: 1e-2, tolerance: 1e-3, forward: pool.forward, backward: pool.backward)
        }
        // By hand: the 2×2 maxima of 1…16 on a 4×4 grid are 6, 8, 14, 16.
        let pool = MaxPool2d(LayerContext(), kernelSize: 2, stride: 2)
        XCTAssertEqual(pool.forward(Tensor(shape: [1, 4, 4, 1], values: (1...16).map(Float.init))).values, [6, 8, 14, 16])
    }

    func testReLU() {
        let relu = ReLU(LayerContext())
        let x = FiniteDifferences.randomTensor([2, 3, 3, 4], seed: 4)
        for i in 0..<x.count { x[i] += x[i] < 0 ? -0.1 : 0.1 }
        check("relu", input: x, step: 1e-2, tolerance: 1e-3, forward: relu.forward, backward: relu.backward)
    }

    func testResidualAdd() {
        let add = ResidualAdd(LayerContext())
        let a = Tensor(shape: [1, 1, 1, 3], values: [1, 2, 3]), b = Tensor(shape: [1, 1, 1, 3], values: [10, 20, 30])
        XCTAssertEqual(add.forward(a, b).values, [11, 22, 33])
        let (da, db) = add.backward(b)
        XCTAssertEqual(da.values, b.values)
        XCTAssertEqual(db.values, b.values)
    }

    func testSubsampleShortcut() {
        let shortcut = SubsampleShortcut(LayerContext(), stride: 2, outputChannels: 6)
        let x = FiniteDifferences.randomTensor([2, 5, 5, 2], seed: 5)
        let y = shortcut.forward(x)
        XCTAssertEqual(y.shape, [2, 3, 3, 6])
        // y[0, 1, 1, 2 + c] = x[0, 2, 2, c]; channels 0, 1, 4, 5 are zero padding.
        XCTAssertEqual(y[(1 * 3 + 1) * 6 + 2], x[(2 * 5 + 2) * 2])
        XCTAssertEqual(y[(1 * 3 + 1) * 6 + 5], 0)
        let backward = { (dY: Tensor) -> Tensor in
            let dX = Tensor(shape: x.shape)
            shortcut.backward(dY, accumulatingInto: dX)
            return dX
        }
        check("subsample shortcut", input: x, step: 0.5, tolerance: 1e-4, forward: shortcut.forward, backward: backward)
    }
}
