import Mixing
import Tensors
import XCTest

/// `mixing.fallback`: the steps that do not use the configured method run plain ERM or input mixup,
/// chosen and drawn per (seed, epoch, step, rank), so every rank and every resumed run agrees.
final class FallbackTests: XCTestCase {
    private func key(_ step: Int, epoch: Int = 3, rank: Int = 1) -> MixingRandomness {
        MixingRandomness(seed: 7, epoch: epoch, step: step, rank: rank)
    }

    func testHalfTheStepsMixEmbeddingsAndTheOthersRunInputMixup() {
        let schedule = MixingSchedule(method: .multimix, probability: 0.5, fallback: .mixup)
        let chosen = (0..<10_000).map { schedule.method(for: key($0)) }
        let share = Double(chosen.filter { $0 == .multimix }.count) / 10_000
        XCTAssertEqual(share, 0.5, accuracy: 0.02)  // SE √(0.25/10⁴) = 0.005: 4 SE
        XCTAssertTrue(chosen.allSatisfy { $0 == .multimix || $0 == .mixup })
        // The choice is the ERM fallback's choice, step for step: only what the other steps do changes.
        let erm = MixingSchedule(method: .multimix, probability: 0.5, fallback: .erm)
        for step in 0..<500 {
            XCTAssertEqual(schedule.usesMethod(for: key(step)), erm.usesMethod(for: key(step)))
            XCTAssertEqual(erm.method(for: key(step)), schedule.usesMethod(for: key(step)) ? .multimix : .erm)
        }
        // A pure function of the key: the same answer again, and (over many steps) a different one per rank.
        XCTAssertEqual((0..<200).map { schedule.method(for: key($0)) }, Array(chosen.prefix(200)))
        let otherRank = (0..<200).map { schedule.method(for: key($0, rank: 0)) }
        XCTAssertNotEqual(otherRank, Array(chosen.prefix(200)))
        XCTAssertEqual(MixingFallback.erm.method, .erm)
        XCTAssertEqual(MixingFallback.mixup.method, .mixup)
    }

    /// x̃ᵢ = λxᵢ + (1 − λ)x_π(i), ỹᵢ = λyᵢ + (1 − λ)y_π(i) with λ ~ Beta(α, α) and π drawn, in that
    /// order, from the stream (seed, epoch, step, rank, purpose .fallbackMixing): recomputed by hand.
    func testTheFallbackMixupFollowsItsEquationsOnItsOwnStream() {
        let b = 5, row = 4, alpha = 2.0
        let x = Tensor(shape: [b, 2, 2, 1], values: (0..<(b * row)).map { Float($0) * 0.25 - 1 })
        let y = Tensor(shape: [b, 3], values: (0..<b).flatMap { i in (0..<3).map { Float($0 == i % 3 ? 1 : 0) } })
        let mix = PairMix(concentration: .fixed(alpha))
        var lambdas: [Float] = []
        for step in 0..<20 {
            let randomness = key(step).fallback
            XCTAssertEqual(randomness.purpose, .fallbackMixing)
            let (mixed, targets) = mix.forward(x, targets: y, randomness: randomness)
            var stream = RandomStream(seed: 7, epoch: 3, step: step, rank: 1, purpose: .fallbackMixing)
            let lambda = Float(stream.nextBeta(alpha, alpha))
            let permutation = stream.permutation(count: b)
            XCTAssertEqual(mix.lambda, lambda)
            XCTAssertEqual(mix.permutation, permutation)
            for i in 0..<b {
                for e in 0..<row {
                    let expected = lambda * x.data[i * row + e] + (1 - lambda) * x.data[permutation[i] * row + e]
                    XCTAssertEqual(mixed.data[i * row + e], expected, accuracy: 1e-6)
                }
                for c in 0..<3 {
                    let expected = lambda * y.data[i * 3 + c] + (1 - lambda) * y.data[permutation[i] * 3 + c]
                    XCTAssertEqual(targets.data[i * 3 + c], expected, accuracy: 1e-6)
                }
            }
            lambdas.append(lambda)
            // Not the configured method's stream: the `.mixing` draw of the same step differs.
            var mixing = key(step).stream()
            XCTAssertNotEqual(Float(mixing.nextBeta(alpha, alpha)), lambda)
        }
        // Beta(2, 2): mean 1/2; every λ in (0, 1), and not all the same.
        XCTAssertTrue(lambdas.allSatisfy { $0 > 0 && $0 < 1 })
        XCTAssertGreaterThan(Set(lambdas).count, 15)
        // The same key gives the same draw (a resumed run repeats it bit for bit).
        _ = mix.forward(x, targets: y, randomness: key(4).fallback)
        XCTAssertEqual(mix.lambda, lambdas[4])
    }
}
