import Evaluation
import Foundation
import Training
import XCTest

/// Expected values marked "reference" come from Tests/TrainingTests/metrics_reference.py, a pure-Python
/// (math module only) reimplementation of the same definitions, run once with Python 3.11:
/// `python3 Tests/TrainingTests/metrics_reference.py`. The rest are worked by hand in the comments.
final class MetricsTests: XCTestCase {
    /// The reference's deterministic logits: zᵢⱼ = float32(3 sin(1.7 i + 0.9 j² + 0.3)), labels (5i + 3) mod 7.
    private func formulaBatch(range: Range<Int>) -> (logits: [Float], labels: [Int]) {
        var logits: [Float] = []
        for i in range { for j in 0..<7 { logits.append(Float(3 * sin(1.7 * Double(i) + 0.9 * Double(j * j) + 0.3))) } }
        return (logits, range.map { ($0 * 5 + 3) % 7 })
    }

    func testClassificationByHand() {
        // row 0: argmax 0 = label → top-1 hit.                     confidence e²/(e²+e+4)
        // row 1: label 2 ties class 0 (lower index wins), class 1 above → rank 2: top-5 only.
        // row 2: class 5 above label 0 → rank 1: top-5 only.
        // row 3: all equal, label 5 → rank 5: a miss even at top-5; confidence 1/6.
        var tally = ClassificationTally()
        tally.add(logits: [2, 1, 0, 0, 0, 0, /**/ 0, 3, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, 5, /**/ 1, 1, 1, 1, 1, 1],
                  classes: 6, labels: [0, 2, 0, 5])
        XCTAssertEqual(tally.top1, 0.25)
        XCTAssertEqual(tally.top5, 0.75)
        // NLL row 0: log(e²+e+4) − 2; row 1: log(e³+5); row 2: log(e⁵+5); row 3: log 6.
        let e = M_E
        let nll = (log(e * e + e + 4) - 2 + log(e * e * e + 5) + log(pow(e, 5) + 5) + log(6)) / 4
        XCTAssertEqual(tally.nll, nll, accuracy: 1e-12)
        XCTAssertEqual(tally.nll, 2.6734701704186286, accuracy: 1e-12)    // reference
        XCTAssertEqual(tally.ece, 0.60274573780718133, accuracy: 1e-12)   // reference
        XCTAssertEqual(tally.binExamples.reduce(0, +), 4)
        XCTAssertEqual(tally.binExamples[2], 1)     // confidence 1/6 lies in (2/15, 3/15]
    }

    func testClassificationAgainstReference() {
        let (logits, labels) = formulaBatch(range: 0..<50)
        var tally = ClassificationTally()
        tally.add(logits: logits, classes: 7, labels: labels)
        XCTAssertEqual(tally.count, 50)
        XCTAssertEqual(tally.top1, 0.2)
        XCTAssertEqual(tally.top5, 0.72)
        XCTAssertEqual(tally.nll, 3.2315067237460307, accuracy: 1e-9)
        XCTAssertEqual(tally.ece, 0.26713741255757806, accuracy: 1e-9)
    }

    /// Three "ranks" tallying parts of the set, merged directly or through the flattened sums, agree
    /// with one tally over the whole set.
    func testClassificationMergeEqualsWhole() {
        let whole = formulaBatch(range: 0..<50)
        var all = ClassificationTally()
        all.add(logits: whole.logits, classes: 7, labels: whole.labels)
        var merged = ClassificationTally()
        var summed = [Double](repeating: 0, count: ClassificationTally().flattened.count)
        for part in [0..<13, 13..<31, 31..<50] {
            let batch = formulaBatch(range: part)
            var tally = ClassificationTally()
            tally.add(logits: batch.logits, classes: 7, labels: batch.labels)
            merged.merge(tally)
            summed = zip(summed, tally.flattened).map(+)
        }
        let reduced = ClassificationTally(flattened: summed)
        for other in [merged, reduced] {
            XCTAssertEqual(other.count, all.count)
            XCTAssertEqual(other.top1, all.top1)
            XCTAssertEqual(other.binExamples, all.binExamples)
            XCTAssertEqual(other.nll, all.nll, accuracy: 1e-12)
            XCTAssertEqual(other.ece, all.ece, accuracy: 1e-12)
        }
        XCTAssertEqual(Set(all.values.keys), ["top1", "top5", "nll", "ece"])
    }

    /// A diverged model's NaN (or infinite) logits are never counted correct: top-1 is not 1.0.
    func testNonFiniteLogitsAreNeverCorrect() {
        var tally = ClassificationTally()
        tally.add(logits: [Float](repeating: .nan, count: 6) + [1, .infinity, 0], classes: 3, labels: [0, 2, 1])
        XCTAssertEqual(tally.top1, 0)
        XCTAssertEqual(tally.top5, 0)
        XCTAssertTrue(tally.nll.isNaN)
        XCTAssertTrue(tally.ece.isNaN)
    }

    func testPerfectlyCalibratedHasZeroECE() {
        // Two examples at confidence exactly ½ (logits equal for 2 classes), one right, one wrong.
        var tally = ClassificationTally()
        tally.add(logits: [0, 0, 0, 0], classes: 2, labels: [0, 1])
        XCTAssertEqual(tally.ece, 0, accuracy: 1e-15)
        XCTAssertEqual(tally.top1, 0.5)
        XCTAssertEqual(tally.nll, log(2), accuracy: 1e-15)
    }

    func testAlignmentAndUniformityByHand() {
        // f: (1,0) and (0,1) in class 0; (−1,0) and (3,0)→(1,0) in class 1.
        // Same-class distances²: 2 and 4 → alignment 3.
        // All six pairs' distances²: 2, 4, 0, 2, 2, 4 → uniformity log((3e⁻⁴ + 2e⁻⁸ + 1)/6).
        var tally = EmbeddingTally()
        tally.add(embeddings: [1, 0, 0, 1, -1, 0, 3, 0], dimension: 2, labels: [0, 0, 1, 1])
        XCTAssertEqual(tally.alignmentPairs, 2)
        XCTAssertEqual(tally.uniformityPairs, 6)
        XCTAssertEqual(tally.alignment, 3, accuracy: 1e-6)
        XCTAssertEqual(tally.uniformity, log((3 * exp(-4.0) + 2 * exp(-8.0) + 1) / 6), accuracy: 1e-6)
        XCTAssertEqual(Set(tally.values.keys), ["alignment", "uniformity"])
    }

    func testRawAlignmentAndUniformityByHand() {
        // Raw: (1,0), (0,1) in class 0; (−1,0), (3,0) in class 1.
        // Same-class distances²: 2 and 16 → alignment 9 (above the normalised protocol's bound of 4).
        // All six pairs: 2, 4, 4, 2, 10, 16 → uniformity log((2e⁻⁴ + 2e⁻⁸ + e⁻²⁰ + e⁻³²)/6).
        var tally = EmbeddingTally()
        tally.add(embeddings: [1, 0, 0, 1, -1, 0, 3, 0], dimension: 2, labels: [0, 0, 1, 1], normalise: false)
        XCTAssertEqual(tally.alignment, 9, accuracy: 1e-6)
        XCTAssertEqual(tally.uniformity, log((2 * exp(-4.0) + 2 * exp(-8.0) + exp(-20.0) + exp(-32.0)) / 6), accuracy: 1e-6)
        XCTAssertEqual(Set(tally.rawValues.keys), ["alignment_raw", "uniformity_raw"])
    }

    func testScaleFreeAlignmentAndUniformityAndMeanNormByHand() throws {
        // (1,0), (0,1) | (−1,0), (3,0): ‖z‖² = 1, 1, 1, 9 → R = √(12/4) = √3; mean ‖z‖ = (1 + 1 + 1 + 3)/4 = 1.5.
        // Divided by R the raw distances² (2, 4, 4, 2, 10, 16) are divided by 3: alignment (2 + 16)/2/3 = 3,
        // uniformity log((2e^(−4/3) + 2e^(−8/3) + e^(−20/3) + e^(−32/3))/6).
        let embeddings: [Float] = [1, 0, 0, 1, -1, 0, 3, 0]
        var norms = EmbeddingNorms()
        norms.add(embeddings: embeddings, dimension: 2)
        XCTAssertEqual(norms.rms, 3.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(norms.mean, 1.5, accuracy: 1e-12)
        XCTAssertEqual(EmbeddingNorms(flattened: norms.flattened), norms)
        let expectedUniformity = log((2 * exp(-4.0 / 3) + 2 * exp(-8.0 / 3) + exp(-20.0 / 3) + exp(-32.0 / 3)) / 6)
        // The same numbers for the embeddings times 5 (their R is 5√3): scale-free.
        for c: Float in [1, 5] {
            var scaled = EmbeddingNorms()
            scaled.add(embeddings: embeddings.map { $0 * c }, dimension: 2)
            var tally = EmbeddingTally()
            tally.add(embeddings: embeddings.map { $0 * c }, dimension: 2, labels: [0, 0, 1, 1], normalise: false,
                      scale: Float(1 / scaled.rms))
            XCTAssertEqual(tally.alignment, 3, accuracy: 1e-5)
            XCTAssertEqual(tally.uniformity, expectedUniformity, accuracy: 1e-5)
        }
        XCTAssertEqual(Set(EmbeddingTally().scaleFreeValues.keys), ["alignment_rms", "uniformity_rms"])
    }

    func testEmbeddingSubsamplingAndMerge() {
        let count = 300, dimension = 5
        let embeddings = (0..<count * dimension).map { Float(sin(Double($0) * 0.61)) }
        let labels = (0..<count).map { $0 % 4 }
        var sampled = EmbeddingTally()
        sampled.add(embeddings: embeddings, dimension: dimension, labels: labels, maxSamples: 100, seed: 7)
        XCTAssertEqual(sampled.uniformityPairs, 100 * 99 / 2)
        var again = EmbeddingTally()
        again.add(embeddings: embeddings, dimension: dimension, labels: labels, maxSamples: 100, seed: 7)
        XCTAssertEqual(sampled, again, "same seed, same sample")
        var full = EmbeddingTally()
        full.add(embeddings: embeddings, dimension: dimension, labels: labels, maxSamples: 1000)
        XCTAssertEqual(full.uniformityPairs, Double(count * (count - 1) / 2))
        // A sample's estimate is near the full set's.
        XCTAssertEqual(sampled.uniformity, full.uniformity, accuracy: 0.15)
        XCTAssertEqual(sampled.alignment, full.alignment, accuracy: 0.25)
        XCTAssertTrue((-8...0).contains(full.uniformity) && (0...4).contains(full.alignment))

        var merged = sampled
        merged.merge(full)
        XCTAssertEqual(EmbeddingTally(flattened: zip(sampled.flattened, full.flattened).map(+)), merged)
        XCTAssertEqual(merged.uniformityPairs, sampled.uniformityPairs + full.uniformityPairs)
    }

    func testOODByHand() {
        // in: 0.9 0.8 0.4; out: 0.7 0.4 0.1.
        // AUROC: 0.9 and 0.8 beat all 3 outs (6), 0.4 beats 0.1 and ties 0.4 (1.5) → 7.5/9.
        // AUPR-in, thresholds 0.9, 0.8, 0.7, 0.4, 0.1: ΔR·P = ⅓·1 + ⅓·1 + 0 + ⅓·⅗ + 0 = 0.8666…
        // AUPR-out on −s: −0.1 (out), −0.4 (in, out), −0.7 (out): ⅓·1 + ⅓·⅔ + ⅓·¾ = 29/36.
        let scores = OODScores.evaluate(inDistribution: [0.9, 0.8, 0.4], outOfDistribution: [0.7, 0.4, 0.1])
        XCTAssertEqual(scores.auroc, 7.5 / 9, accuracy: 1e-15)
        XCTAssertEqual(scores.auprIn, 0.8 + 1.0 / 15, accuracy: 1e-15)
        XCTAssertEqual(scores.auprOut, 29.0 / 36, accuracy: 1e-15)
        let perfect = OODScores.evaluate(inDistribution: [0.9, 0.99], outOfDistribution: [0.2, 0.5, 0.1])
        XCTAssertEqual(perfect, OODScores(auroc: 1, auprIn: 1, auprOut: 1))
        XCTAssertEqual(perfect.values(forSet: "gaussian"), ["ood_gaussian_auroc": 1, "ood_gaussian_aupr_in": 1, "ood_gaussian_aupr_out": 1])
        XCTAssertEqual(perfect.values(forSet: ""), perfect.values)
    }

    func testOODAgainstReference() {
        let inScores = (0..<40).map { Double((($0 * 37) % 23) + 5) / 30 }
        let outScores = (0..<30).map { Double((($0 * 11) % 17) + 1) / 30 }
        let scores = OODScores.evaluate(inDistribution: inScores, outOfDistribution: outScores)
        XCTAssertEqual(scores.auroc, 0.76875000000000004, accuracy: 1e-12)
        XCTAssertEqual(scores.auprIn, 0.83846693068862665, accuracy: 1e-12)
        XCTAssertEqual(scores.auprOut, 0.71291214051819674, accuracy: 1e-12)
        XCTAssertEqual(Set(scores.values.keys), ["ood_auroc", "ood_aupr_in", "ood_aupr_out"])
    }

    func testMaximumSoftmaxProbability() {
        let logits: [Float] = [0, 0, 0, 0, /**/ 1000, 0, 0, 0, /**/ log(3), 0, 0, 0]
        let msp = logits.withUnsafeBufferPointer { OODScores.maximumSoftmaxProbabilities(logits: $0, classes: 4) }
        XCTAssertEqual(msp[0], 0.25, accuracy: 1e-12)
        XCTAssertEqual(msp[1], 1, accuracy: 1e-12)       // no overflow for large logits
        XCTAssertEqual(msp[2], 0.5, accuracy: 1e-7)      // 3 / (3 + 3)
    }
}
