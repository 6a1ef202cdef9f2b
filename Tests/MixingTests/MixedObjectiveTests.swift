import Layers
import Mixing
import Tensors
import XCTest

/// The recipe's knobs against their equations: the mixed-loss scale s (ERM-matched gradient), the
/// clean-batch loss w, m-subsets and Dense MultiMix's softmax attention.
final class MixedObjectiveTests: XCTestCase {
    let randomness = MixingRandomness(seed: 9, epoch: 2, step: 5, rank: 0)

    /// s = (1/b) / (E[λᵢ²] − E[λᵢλⱼ]) in closed form: bα + 1 for m = b, 1 for m = 1 (ERM).
    func testERMMatchedScaleClosedForms() {
        XCTAssertEqual(MixedObjective.ermMatchedScale(examples: 64, examplesPerMix: 64, alpha: 1), 65, accuracy: 1e-9)
        XCTAssertEqual(MixedObjective.ermMatchedScale(examples: 64, examplesPerMix: 64, alpha: 0.5), 33, accuracy: 1e-9)
        XCTAssertEqual(MixedObjective.ermMatchedScale(examples: 64, examplesPerMix: 1, alpha: 2), 1, accuracy: 1e-9)
        XCTAssertEqual(MixedObjective.ermMatchedScale(examples: 1, examplesPerMix: 1, alpha: 2), 1)
        // m = 2, α = 1, b = 64: 63·3 / (63 + 62) = 1.512
        XCTAssertEqual(MixedObjective.ermMatchedScale(examples: 64, examplesPerMix: 2, alpha: 1), 189.0 / 125, accuracy: 1e-9)
    }

    /// The coefficient c = E[λᵢ²] − E[λᵢλⱼ] that s rests on, against the project's own Λ sampler
    /// (m = b and m-subsets): 4000 columns × b examples; the Monte Carlo standard error of c is below
    /// 2% of c here, so a 10% tolerance cannot pass a wrong formula by chance (m = b and m = 3 differ
    /// by a factor of 10 at b = 16).
    func testERMMatchedScaleMatchesTheSampledLambda() {
        let (b, n) = (16, 4000)
        for (m, alpha) in [(16, 1.0), (3, 1.0), (4, 0.5)] {
            let mixer = MultiMix(mixedCount: n, concentration: .fixed(alpha), examplesPerMix: m)
            let z = Tensor(shape: [b, 1]), y = oneHot((0..<b).map { Int32($0 % 2) }, 2)
            _ = mixer.forward(embeddings: z, targets: y, randomness: randomness)
            let lambda = mixer.lambda.data
            var squares = 0.0, products = 0.0
            for k in 0..<n {
                for i in 0..<b {
                    let li = Double(lambda[i * n + k])
                    squares += li * li
                    for j in 0..<b where j != i { products += li * Double(lambda[j * n + k]) }
                }
            }
            let c = squares / Double(n * b) - products / Double(n * b * (b - 1))
            let expected = (1 / Double(b)) / MixedObjective.ermMatchedScale(examples: b, examplesPerMix: m, alpha: alpha)
            XCTAssertEqual(c, expected, accuracy: 0.1 * expected, "m = \(m), α = \(alpha)")
        }
    }

    /// With w = 0 and s = 1 the rows and targets pass through untouched: the paper's objective.
    func testPaperObjectivePassesRowsThrough() {
        let objective = MixedObjective()
        let mixed = FiniteDifferences.randomTensor([7, 3], seed: 1), targets = oneHot([0, 1, 2, 0, 1, 2, 0], 3)
        let clean = FiniteDifferences.randomTensor([2, 3], seed: 2), cleanTargets = oneHot([1, 2], 3)
        let (rows, rowTargets) = objective.stack(mixed: mixed, mixedTargets: targets, clean: clean, cleanTargets: cleanTargets, mixedScale: 1)
        XCTAssertTrue(rows === mixed && rowTargets === targets)
    }

    /// One cross-entropy over the stacked rows = s·mean CE(mixed) + w·mean CE(clean), and the gradient
    /// split back equals s/N·(p − ỹ) on the mixed rows and w/b·(p − y) on the clean ones.
    func testStackedLossIsTheWeightedSumOfBothLosses() {
        let (nMixed, b, d, c) = (6, 4, 5, 3)
        let (s, w) = (2.5, 0.75)
        let objective = MixedObjective(lossScale: .ermMatched, cleanLossWeight: w)
        let mixed = FiniteDifferences.randomTensor([nMixed, d], seed: 3)
        let mixedTargets = Tensor(shape: [nMixed, c], values: (0..<nMixed).flatMap { k -> [Float] in
            let a = Float(k) / Float(nMixed)
            return [a, (1 - a) / 2, (1 - a) / 2]
        })
        let clean = FiniteDifferences.randomTensor([b, d], seed: 4), cleanTargets = oneHot([0, 2, 1, 2], c)
        let head = MultiMixTests.Head(features: d, classes: c, seed: 5)

        let mixedLoss = head.forward(mixed, mixedTargets)
        let cleanLoss = head.forward(clean, cleanTargets)
        let (rows, rowTargets) = objective.stack(mixed: mixed, mixedTargets: mixedTargets, clean: clean,
                                                 cleanTargets: cleanTargets, mixedScale: s)
        XCTAssertEqual(rows.shape, [nMixed + b, d])
        XCTAssertEqual(head.forward(rows, rowTargets), s * mixedLoss + w * cleanLoss, accuracy: 1e-5)

        // Against central differences of s·CE(mixed) + w·CE(clean) in the classifier's inputs.
        let split = objective.split(head.backward())
        let dMixed = split.mixed.values, dClean = Array(UnsafeBufferPointer(start: split.clean!, count: b * d))
        let total = { () -> Double in s * head.forward(mixed, mixedTargets) + w * head.forward(clean, cleanTargets) }
        let numericMixed = FiniteDifferences.gradient(of: total, values: mixed.data, indices: Array(0..<mixed.count), step: 1e-2)
        XCTAssertLessThan(FiniteDifferences.relativeError(numeric: numericMixed, analytic: dMixed), 2e-3)
        let numericClean = FiniteDifferences.gradient(of: total, values: clean.data, indices: Array(0..<clean.count), step: 1e-2)
        XCTAssertLessThan(FiniteDifferences.relativeError(numeric: numericClean, analytic: dClean), 2e-3)
    }

    /// dZ = Λ dZ̃ᵀ + dZ_clean through MultiMix with a clean loss: the whole objective
    /// s·CE(ΛᵀZ, ΛᵀY) + w·CE(Z, Y) against central differences in Z, Λ held fixed.
    func testMultiMixWithCleanLossMatchesFiniteDifferences() {
        let (b, d, c, n) = (5, 4, 3, 9)
        let (s, w) = (3.0, 0.5)
        let head = MultiMixTests.Head(features: d, classes: c, seed: 8)
        let mixer = MultiMix(mixedCount: n, concentration: .fixed(0.8), examplesPerMix: 3)
        let objective = MixedObjective(lossScale: .ermMatched, cleanLossWeight: w)
        let z = FiniteDifferences.randomTensor([b, d], seed: 9)
        let y = oneHot([0, 1, 2, 1, 0], c)
        let (zm, ym) = mixer.forward(embeddings: z, targets: y, randomness: randomness)
        let (rows, targets) = objective.stack(mixed: zm, mixedTargets: ym, clean: z, cleanTargets: y, mixedScale: s)
        _ = head.forward(rows, targets)
        let gradient = objective.split(head.backward())
        let dZ = mixer.backward(gradient.mixed, addingPooled: gradient.clean).values

        let lambda = Tensor(shape: mixer.lambda.shape, values: mixer.lambda.values)
        let loss = { () -> Double in
            let (a, t) = mixer.mix(embeddings: z, targets: y, with: lambda)
            return s * head.forward(a, t) + w * head.forward(z, y)
        }
        let numeric = FiniteDifferences.gradient(of: loss, values: z.data, indices: Array(0..<z.count), step: 1e-2)
        XCTAssertLessThan(FiniteDifferences.relativeError(numeric: numeric, analytic: dZ), 2e-3)
    }

    /// Dense MultiMix's backward with a pooled-embedding gradient adds dZ/r at every position.
    func testDenseBackwardAddsThePooledGradientAtEveryPosition() {
        let (b, h, w, d, c, n) = (3, 2, 2, 4, 3, 5)
        let f = FiniteDifferences.randomTensor([b, h, w, d], seed: 10)
        let weights = FiniteDifferences.randomTensor([c, d], seed: 11)
        let mixer = DenseMultiMix(mixedCount: n, concentration: .fixed(1))
        _ = mixer.forward(features: f, targets: oneHot([0, 1, 2], c), classifierWeight: weights, randomness: randomness)
        let dMixed = FiniteDifferences.randomTensor([h * w * n, d], seed: 12)
        let plain = mixer.backward(dMixed).values
        let pooled = FiniteDifferences.randomTensor([b, d], seed: 13)
        let with = mixer.backward(dMixed, addingPooled: pooled.data).values
        for i in 0..<b {
            for j in 0..<(h * w) {
                for e in 0..<d {
                    let index = (i * h * w + j) * d + e
                    XCTAssertEqual(with[index], plain[index] + pooled.values[i * d + e] / Float(h * w), accuracy: 1e-6)
                }
            }
        }
    }

    /// Softmax attention by hand (the same map as DenseMultiMixTests' ReLU + ℓ1 case):
    ///   example 0, CAM (2, −1): a = (e², e⁻¹)/(e² + e⁻¹);  example 1, CAM (1, 3): a = (e, e³)/(e + e³).
    func testSoftmaxAttentionByHand() {
        let f = Tensor(shape: [2, 2, 1, 2], values: [2, 5, -1, 3,
                                                      4, 1, 0, 3])
        let w = Tensor(shape: [2, 2], values: [1, 0,
                                               0, 1])
        let mixer = DenseMultiMix(mixedCount: 3, concentration: .fixed(1), attentionNormalisation: .softmax)
        _ = mixer.forward(features: f, targets: oneHot([0, 1], 2), classifierWeight: w, randomness: randomness)
        let e = { (x: Double) in Float(exp(x)) }
        let expected: [Float] = [e(2) / (e(2) + e(-1)), e(-1) / (e(2) + e(-1)), e(1) / (e(1) + e(3)), e(3) / (e(1) + e(3))]
        for (got, want) in zip(mixer.attention.values, expected) { XCTAssertEqual(got, want, accuracy: 1e-6) }
        // And the mixing matrices stay on the simplex.
        let (r, b) = (2, 2)
        for j in 0..<r {
            for k in 0..<3 {
                var sum: Float = 0
                for i in 0..<b { sum += mixer.mixingMatrices.data[(j * 3 + k) * b + i] }
                XCTAssertEqual(sum, 1, accuracy: 1e-5)
            }
        }
    }

    /// A scheduled α is from·(to/from)^p at progress p: from at the start, to at the end, their
    /// geometric mean half way, and the mixers read it from the step's randomness.
    func testAnnealedConcentrationFollowsTrainingProgress() {
        let alpha = Concentration.annealed(from: 0.1, to: 2.5)
        var random = randomness.stream()
        XCTAssertEqual(alpha.draw(&random, progress: 0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(alpha.draw(&random, progress: 1), 2.5, accuracy: 1e-12)
        XCTAssertEqual(alpha.draw(&random, progress: 0.5), 0.5, accuracy: 1e-12)
        XCTAssertEqual(alpha.draw(&random, progress: 7), 2.5, accuracy: 1e-12)
        XCTAssertTrue(alpha.isValid)
        XCTAssertFalse(Concentration.annealed(from: 0, to: 1).isValid)
        let mixer = MultiMix(mixedCount: 4, concentration: alpha)
        var late = randomness
        late.progress = 0.5
        _ = mixer.forward(embeddings: Tensor(shape: [3, 2]), targets: oneHot([0, 1, 0], 2), randomness: late)
        XCTAssertEqual(mixer.lastAlpha, 0.5, accuracy: 1e-12)
    }

    /// With m-subsets every column of Λ has at most m non-zero weights; with m = 1 every mixed example
    /// is one real example (and its target that example's one-hot label).
    func testSubsetsOfOneGiveRealExamples() {
        let (b, d, c, n) = (6, 3, 3, 20)
        let mixer = MultiMix(mixedCount: n, concentration: .fixed(1), examplesPerMix: 1)
        let z = FiniteDifferences.randomTensor([b, d], seed: 14)
        let labels: [Int32] = [0, 1, 2, 0, 1, 2]
        let (zm, ym) = mixer.forward(embeddings: z, targets: oneHot(labels, c), randomness: randomness)
        for k in 0..<n {
            let chosen = (0..<b).filter { mixer.lambda.data[$0 * n + k] != 0 }
            XCTAssertEqual(chosen.count, 1)
            let i = chosen[0]
            XCTAssertEqual(Array(zm.values[(k * d)..<(k * d + d)]), Array(z.values[(i * d)..<(i * d + d)]))
            XCTAssertEqual(ym.values[k * c + Int(labels[i])], 1)
        }
    }
}
