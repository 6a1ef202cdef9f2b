import Layers
import Mixing
import Tensors
import XCTest

/// Dense MultiMix against eq. 5–8: the attention is each example's CAM, Mʲ = diag(aʲ)Λʲ with
/// normalised columns, Z̃ʲ = ZʲMʲ, and dZʲ = dZ̃ʲ(Mʲ)ᵀ.
final class DenseMultiMixTests: XCTestCase {
    let randomness = MixingRandomness(seed: 5, epoch: 0, step: 1, rank: 1)

    /// A 2×1 feature map (r = 2) of 2 examples with d = 2 and 2 classes, attention by hand:
    ///   example 0 (label 0, w₀ = (1, 0)): z⁰ = (2, 5) → 2, z¹ = (−1, 3) → ReLU(−1) = 0  ⇒ a₀ = (1, 0)
    ///   example 1 (label 1, w₁ = (0, 1)): z⁰ = (4, 1) → 1, z¹ = (0, 3) → 3              ⇒ a₁ = (¼, ¾)
    func testAttentionIsTheNormalisedClassActivationMap() {
        let f = Tensor(shape: [2, 2, 1, 2], values: [2, 5, -1, 3,
                                                      4, 1, 0, 3])
        let w = Tensor(shape: [2, 2], values: [1, 0,
                                               0, 1])
        let mixer = DenseMultiMix(mixedCount: 3, concentration: .fixed(1))
        _ = mixer.forward(features: f, targets: oneHot([0, 1], 2), classifierWeight: w, randomness: randomness)
        XCTAssertEqual(mixer.attention.values, [1, 0, 0.25, 0.75])
    }

    func testMixingMatricesFollowEquationsFiveAndSix() {
        let (b, h, w, d, c, n) = (4, 2, 3, 5, 3, 40)
        let r = h * w
        let f = FiniteDifferences.randomTensor([b, h, w, d], seed: 1)
        let weights = FiniteDifferences.randomTensor([c, d], seed: 2)
        let y = oneHot([0, 2, 1, 2], c)
        let mixer = DenseMultiMix(mixedCount: n, concentration: .fixed(0.8))
        _ = mixer.forward(features: f, targets: y, classifierWeight: weights, randomness: randomness)
        // Redraw Λʲ the way the mixer does (its documented stream per position) and apply eq. 5–6.
        let lambda = UnsafeMutablePointer<Float>.allocate(capacity: b * n)
        defer { lambda.deallocate() }
        let scratch = InterpolationMatrix.Scratch(examples: b)
        var stepStream = randomness.stream()
        let alpha = Concentration.fixed(0.8).draw(&stepStream)
        for j in 0..<r {
            var stream = randomness.stream(part: j + 1)
            InterpolationMatrix.sample(into: lambda, examples: b, mixes: n, examplesPerMix: b, alpha: alpha,
                                       random: &stream, scratch: scratch)
            for k in 0..<n {
                // Mʲ_{ik} = aᵢʲ Λʲ_{ik} / Σ_i' a_i'ʲ Λʲ_{i'k}
                let total = (0..<b).reduce(0.0) { $0 + Double(mixer.attention.data[$1 * r + j]) * Double(lambda[$1 * n + k]) }
                var columnSum = 0.0
                for i in 0..<b {
                    // (a column whose weighted sum is 0 falls back to Λʲ's column)
                    let expected = total > 0
                        ? Double(mixer.attention.data[i * r + j]) * Double(lambda[i * n + k]) / total
                        : Double(lambda[i * n + k])
                    let actual = mixer.mixingMatrices.data[(j * n + k) * b + i]
                    XCTAssertEqual(Double(actual), expected, accuracy: 1e-5, "M^\(j)[\(i), \(k)]")
                    XCTAssertGreaterThanOrEqual(actual, 0)
                    columnSum += Double(actual)
                }
                XCTAssertEqual(columnSum, 1, accuracy: 1e-6, "column \(k) of M^\(j)")
            }
        }
        // Mixed targets are distributions, and Z̃ʲ = ZʲMʲ at one position.
        for row in 0..<(r * n) {
            let t = (0..<c).map { Double(mixer.mixedTargets.data[row * c + $0]) }
            XCTAssertEqual(t.reduce(0, +), 1, accuracy: 1e-5)
        }
        let (j, k, e) = (4, 7, 2)
        let expected = (0..<b).reduce(0.0) {
            $0 + Double(mixer.mixingMatrices.data[(j * n + k) * b + $1]) * Double(f.data[($1 * r + j) * d + e])
        }
        XCTAssertEqual(Double(mixer.mixedFeatures.data[(j * n + k) * d + e]), expected, accuracy: 1e-5)
    }

    func testZeroAttentionColumnFallsBackToLambda() {
        // Every CAM is zero (features all negative along the class weights): attention is uniform,
        // so Mʲ equals Λʲ exactly.
        let (b, d, c, n) = (3, 2, 2, 10)
        let f = Tensor(shape: [b, 2, 2, d], values: [Float](repeating: -1, count: b * 4 * d))
        let w = Tensor(shape: [c, d], values: [1, 1, 1, 1])
        let mixer = DenseMultiMix(mixedCount: n, concentration: .fixed(1))
        _ = mixer.forward(features: f, targets: oneHot([0, 1, 0], c), classifierWeight: w, randomness: randomness)
        XCTAssertEqual(mixer.attention.values, [Float](repeating: 0.25, count: b * 4))
        for j in 0..<4 {
            for k in 0..<n {
                let sum = (0..<b).reduce(Float(0)) { $0 + mixer.mixingMatrices.data[(j * n + k) * b + $1] }
                XCTAssertEqual(sum, 1, accuracy: 1e-6)
            }
        }
    }

    /// dF and the classifier's dW against central differences, with Mʲ (and so the detached
    /// attention) held fixed; the classifier is shared by all r positions, loss averaged over n·r rows.
    func testGradientsThroughDenseMixerAndClassifierMatchFiniteDifferences() {
        let (b, h, w, d, c, n) = (3, 2, 2, 4, 3, 6)
        let context = LayerContext()
        let linear = Linear(context, name: "fc", inputFeatures: d, outputFeatures: c)
        let loss = SoftTargetCrossEntropy(context)
        context.arena.finalize()
        var initializer = ParameterInitializer(seed: 4)
        linear.initialize(&initializer)
        let f = FiniteDifferences.randomTensor([b, h, w, d], seed: 3)
        let y = oneHot([2, 0, 1], c)
        let mixer = DenseMultiMix(mixedCount: n, concentration: .fixed(1.5))
        let weight = Tensor(shape: [0])
        linear.copyWeight(into: weight)
        XCTAssertEqual(weight.shape, [c, d])
        XCTAssertEqual(weight.values, Array(UnsafeBufferPointer(start: context.arena.value(linear.weight), count: c * d)))
        let (zm, ym) = mixer.forward(features: f, targets: y, classifierWeight: weight, randomness: randomness)
        XCTAssertEqual(zm.shape, [h * w * n, d])
        _ = loss.forward(logits: linear.forward(zm), targets: ym)
        context.arena.zeroGradients()
        let dF = mixer.backward(linear.backward(loss.backward())).values
        let dW = Array(UnsafeBufferPointer(start: context.arena.gradient(linear.weight), count: c * d))

        let fixedLoss = { () -> Double in
            let (z, t) = mixer.mix(features: f, targets: y)
            return loss.forward(logits: linear.forward(z), targets: t)
        }
        let numericF = FiniteDifferences.gradient(of: fixedLoss, values: f.data, indices: Array(0..<f.count), step: 1e-2)
        XCTAssertLessThan(FiniteDifferences.relativeError(numeric: numericF, analytic: dF), 2e-3)
        let numericW = FiniteDifferences.gradient(of: fixedLoss, values: context.arena.value(linear.weight),
                                                  indices: Array(0..<(c * d)), step: 1e-2)
        XCTAssertLessThan(FiniteDifferences.relativeError(numeric: numericW, analytic: dW), 2e-3)
    }

    func testSameRandomnessGivesTheSameMixWhateverTheThreadCount() {
        let f = FiniteDifferences.randomTensor([4, 3, 3, 2], seed: 8), weights = FiniteDifferences.randomTensor([2, 2], seed: 9)
        let y = oneHot([0, 1, 1, 0], 2)
        var results: [[Float]] = []
        let saved = ComputeThreads.count
        defer { ComputeThreads.set(saved) }
        for threads in [1, 2] {
            ComputeThreads.set(threads)
            let mixer = DenseMultiMix(mixedCount: 7)
            _ = mixer.forward(features: f, targets: y, classifierWeight: weights, randomness: randomness)
            results.append(mixer.mixingMatrices.values)
        }
        XCTAssertEqual(results[0], results[1])
    }
}
