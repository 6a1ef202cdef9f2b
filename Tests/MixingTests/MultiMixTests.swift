import Layers
import Mixing
import Tensors
import XCTest

/// MultiMix against its equations (Z̃ = ZΛ, Ỹ = YΛ, dZ = dZ̃Λᵀ), its reductions to ERM and to
/// manifold mixup, and finite differences through the mixer and the classifier.
final class MultiMixTests: XCTestCase {
    let randomness = MixingRandomness(seed: 42, epoch: 1, step: 3, rank: 0)

    /// A classifier head (Linear + soft-target cross-entropy) with fixed random weights.
    final class Head {
        let context = LayerContext()
        let linear: Linear
        let loss: SoftTargetCrossEntropy

        init(features d: Int, classes c: Int, seed: UInt64) {
            linear = Linear(context, name: "fc", inputFeatures: d, outputFeatures: c)
            loss = SoftTargetCrossEntropy(context)
            context.arena.finalize()
            var initializer = ParameterInitializer(seed: seed)
            linear.initialize(&initializer)
        }

        func forward(_ z: Tensor, _ y: Tensor) -> Double { loss.forward(logits: linear.forward(z), targets: y) }

        /// dL/dz (and the classifier's gradients into the arena).
        func backward() -> Tensor {
            context.arena.zeroGradients()
            return linear.backward(loss.backward())
        }

        var weight: UnsafeMutablePointer<Float> { context.arena.value(linear.weight) }
        var weightGradient: [Float] {
            Array(UnsafeBufferPointer(start: context.arena.gradient(linear.weight), count: linear.inputFeatures * linear.outputFeatures))
        }
    }

    func labels(_ b: Int, classes c: Int) -> [Int32] { (0..<b).map { Int32(($0 * 7 + 3) % c) } }

    func targets(_ labels: [Int32], classes c: Int) -> Tensor { oneHot(labels, c) }

    func testLambdaColumnsAreOnTheSimplexAndMixedTargetsAreDistributions() {
        let (b, d, c, n) = (16, 8, 5, 300)
        for m in [nil, 2, 5] as [Int?] {
            let mixer = MultiMix(mixedCount: n, concentration: .uniform(0.5...2), examplesPerMix: m)
            let z = FiniteDifferences.randomTensor([b, d], seed: 1)
            let (_, yMixed) = mixer.forward(embeddings: z, targets: targets(labels(b, classes: c), classes: c), randomness: randomness)
            XCTAssertTrue((0.5...2).contains(mixer.lastAlpha))
            for k in 0..<n {
                var sum: Double = 0, support = 0
                for i in 0..<b {
                    let v = mixer.lambda.data[i * n + k]
                    XCTAssertGreaterThanOrEqual(v, 0)
                    sum += Double(v)
                    if v > 0 { support += 1 }
                }
                XCTAssertEqual(sum, 1, accuracy: 1e-6, "column \(k) of Λ")
                if let m { XCTAssertLessThanOrEqual(support, m, "column \(k) mixes more than m = \(m) examples") }
                var targetSum: Double = 0
                for j in 0..<c {
                    XCTAssertGreaterThanOrEqual(yMixed.data[k * c + j], 0)
                    targetSum += Double(yMixed.data[k * c + j])
                }
                XCTAssertEqual(targetSum, 1, accuracy: 1e-6, "mixed target \(k)")
            }
        }
    }

    func testMixedEmbeddingsAreLambdaTransposeTimesZ() {
        let (b, d, c, n) = (6, 4, 3, 9)
        let mixer = MultiMix(mixedCount: n, concentration: .fixed(1))
        let z = FiniteDifferences.randomTensor([b, d], seed: 2)
        let y = targets(labels(b, classes: c), classes: c)
        let (zMixed, yMixed) = mixer.forward(embeddings: z, targets: y, randomness: randomness)
        // z̃_k = Σᵢ Λᵢₖ zᵢ,  ỹ_k = Σᵢ Λᵢₖ yᵢ   (eq. 3, one column at a time)
        for k in 0..<n {
            for e in 0..<d {
                let expected = (0..<b).reduce(0.0) { $0 + Double(mixer.lambda.data[$1 * n + k]) * Double(z.data[$1 * d + e]) }
                XCTAssertEqual(Double(zMixed.data[k * d + e]), expected, accuracy: 1e-5)
            }
            for j in 0..<c {
                let expected = (0..<b).reduce(0.0) { $0 + Double(mixer.lambda.data[$1 * n + k]) * Double(y.data[$1 * c + j]) }
                XCTAssertEqual(Double(yMixed.data[k * c + j]), expected, accuracy: 1e-6)
            }
        }
    }

    func testSameRandomnessGivesTheSameLambdaAndANewStepANewOne() {
        let (b, d, c) = (8, 3, 2)
        let z = FiniteDifferences.randomTensor([b, d], seed: 3), y = targets(labels(b, classes: c), classes: c)
        let first = MultiMix(mixedCount: 20), second = MultiMix(mixedCount: 20)
        _ = first.forward(embeddings: z, targets: y, randomness: randomness)
        _ = second.forward(embeddings: z, targets: y, randomness: randomness)
        XCTAssertEqual(first.lambda.values, second.lambda.values)
        var next = randomness
        next.step += 1
        _ = second.forward(embeddings: z, targets: y, randomness: next)
        XCTAssertNotEqual(first.lambda.values, second.lambda.values)
    }

    /// n = b and Λ a permutation matrix: MultiMix's loss is ERM's loss on the permuted batch.
    func testPermutationLambdaReducesToERM() {
        let (b, d, c) = (7, 5, 4)
        let head = Head(features: d, classes: c, seed: 9)
        let z = FiniteDifferences.randomTensor([b, d], seed: 4)
        let ys = labels(b, classes: c)
        let permutation = [3, 0, 6, 1, 5, 2, 4]
        let lambda = Tensor(shape: [b, b])
        for k in 0..<b { lambda.data[permutation[k] * b + k] = 1 }  // column k picks example π(k)
        let mixer = MultiMix(mixedCount: b)
        let (zMixed, yMixed) = mixer.mix(embeddings: z, targets: targets(ys, classes: c), with: lambda)
        let mixedLoss = head.forward(zMixed, yMixed)

        let zPermuted = Tensor(shape: [b, d])
        for k in 0..<b { for e in 0..<d { zPermuted.data[k * d + e] = z.data[permutation[k] * d + e] } }
        let ermLoss = head.forward(zPermuted, targets(permutation.map { ys[$0] }, classes: c))
        XCTAssertEqual(mixedLoss, ermLoss, accuracy: 1e-6)
    }

    /// m = 2 with one λ per pair (i, π(i)): MultiMix's loss is manifold mixup's loss at the embedding.
    func testPairLambdaReducesToManifoldMixupAtTheEmbedding() {
        let (b, d, c) = (6, 4, 3)
        let head = Head(features: d, classes: c, seed: 10)
        let z = FiniteDifferences.randomTensor([b, d], seed: 5)
        let y = targets(labels(b, classes: c), classes: c)
        let permutation = [2, 4, 0, 5, 1, 3], weight: Float = 0.3
        let lambda = Tensor(shape: [b, b])
        for k in 0..<b {
            lambda.data[k * b + k] += weight                      // λ on example k
            lambda.data[permutation[k] * b + k] += 1 - weight     // 1 − λ on its partner π(k)
        }
        let (zMixed, yMixed) = MultiMix(mixedCount: b).mix(embeddings: z, targets: y, with: lambda)
        let multiMixLoss = head.forward(zMixed, yMixed)
        let pair = PairMix()
        let (zPair, yPair) = pair.mix(z, targets: y, lambda: weight, permutation: permutation)
        XCTAssertEqual(multiMixLoss, head.forward(zPair, yPair), accuracy: 1e-6)
    }

    /// dZ = Λ dZ̃ᵀ and the classifier's dW, against central differences of the whole head's loss
    /// with Λ held fixed. float32 forward, Double loss; h = 1e-2 keeps the rounding error (≈ ε·L/h ≈ 1e-5)
    /// and the truncation error (≈ h²·L‴ ≈ 1e-4) both well under the 2e-3 relative tolerance.
    func testGradientsThroughMixerAndClassifierMatchFiniteDifferences() {
        let (b, d, c, n) = (5, 4, 3, 12)
        let head = Head(features: d, classes: c, seed: 11)
        let mixer = MultiMix(mixedCount: n, concentration: .fixed(0.7))
        let z = FiniteDifferences.randomTensor([b, d], seed: 6)
        let y = targets(labels(b, classes: c), classes: c)
        let (zMixed, yMixed) = mixer.forward(embeddings: z, targets: y, randomness: randomness)
        _ = head.forward(zMixed, yMixed)
        let dZ = mixer.backward(head.backward()).values
        let dW = head.weightGradient
        let lambda = Tensor(shape: mixer.lambda.shape, values: mixer.lambda.values)
        let loss = { () -> Double in
            let (zm, ym) = mixer.mix(embeddings: z, targets: y, with: lambda)
            return head.forward(zm, ym)
        }
        let numericZ = FiniteDifferences.gradient(of: loss, values: z.data, indices: Array(0..<z.count), step: 1e-2)
        XCTAssertLessThan(FiniteDifferences.relativeError(numeric: numericZ, analytic: dZ), 2e-3)
        let numericW = FiniteDifferences.gradient(of: loss, values: head.weight, indices: Array(0..<(c * d)), step: 1e-2)
        XCTAssertLessThan(FiniteDifferences.relativeError(numeric: numericW, analytic: dW), 2e-3)
    }

    func testPairMixBackwardMatchesFiniteDifferences() {
        let (b, d, c) = (4, 6, 3)
        let head = Head(features: d, classes: c, seed: 12)
        let pair = PairMix(concentration: .fixed(1))
        let x = FiniteDifferences.randomTensor([b, d], seed: 7)
        let y = targets(labels(b, classes: c), classes: c)
        let (xm, ym) = pair.forward(x, targets: y, randomness: randomness)
        _ = head.forward(xm, ym)
        let dx = pair.backward(head.backward()).values
        let (lambda, permutation) = (pair.lambda, pair.permutation)
        let loss = { () -> Double in
            let (a, t) = pair.mix(x, targets: y, lambda: lambda, permutation: permutation)
            return head.forward(a, t)
        }
        let numeric = FiniteDifferences.gradient(of: loss, values: x.data, indices: Array(0..<x.count), step: 1e-2)
        XCTAssertLessThan(FiniteDifferences.relativeError(numeric: numeric, analytic: dx), 2e-3)
    }
}
