import Mixing
import Tensors
import XCTest

/// The samplers against theory: over 10⁵ draws, the sample mean and variance of Dirichlet components
/// and of Beta lie within 4 standard errors of their expected values (a true sampler fails one such
/// check with probability ≈ 6·10⁻⁵). Standard errors come from the sample itself: SE(mean) = √(s²/N),
/// SE(variance) = √((m₄ − s⁴)/N).
final class SamplerTests: XCTestCase {
    let draws = 100_000
    let alphas = [0.1, 0.5, 1, 2, 5]

    /// Moments of one scalar sample.
    struct Moments {
        var mean = 0.0, variance = 0.0, meanError = 0.0, varianceError = 0.0

        init(_ x: [Double]) {
            let n = Double(x.count)
            mean = x.reduce(0, +) / n
            var m2 = 0.0, m4 = 0.0
            for v in x {
                let d = (v - mean) * (v - mean)
                m2 += d
                m4 += d * d
            }
            m2 /= n
            m4 /= n
            variance = m2
            meanError = (m2 / n).squareRoot()
            varianceError = ((m4 - m2 * m2) / n).squareRoot()
        }
    }

    func assertMoments(_ sample: [Double], mean: Double, variance: Double, _ what: String) {
        XCTAssertFalse(sample.contains { !$0.isFinite }, "\(what): non-finite draw")
        let m = Moments(sample)
        XCTAssertLessThanOrEqual(abs(m.mean - mean), 4 * m.meanError, "\(what): mean \(m.mean), expected \(mean) ± \(m.meanError)")
        XCTAssertLessThanOrEqual(abs(m.variance - variance), 4 * m.varianceError,
                                 "\(what): variance \(m.variance), expected \(variance) ± \(m.varianceError)")
    }

    func testDirichletComponentsHaveTheoreticalMeansAndVariances() {
        let k = 4
        let weights = UnsafeMutablePointer<Float>.allocate(capacity: k)
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: k)
        defer { weights.deallocate(); scratch.deallocate() }
        for alpha in alphas {
            var random = RandomStream(seed: 7, purpose: .testing)
            var first = [Double](), last = [Double]()
            for _ in 0..<draws {
                random.fillDirichlet(concentration: alpha, count: k, into: weights, scratch: scratch)
                var total: Float = 0, largest: Float = 0
                for i in 0..<k {
                    XCTAssertTrue(weights[i] >= 0 && weights[i].isFinite)
                    total += weights[i]
                    largest = max(largest, weights[i])
                }
                XCTAssertEqual(total, 1, accuracy: 1e-6)
                XCTAssertGreaterThan(largest, 0, "all-zero Dirichlet vector at α = \(alpha)")
                first.append(Double(weights[0]))
                last.append(Double(weights[k - 1]))
            }
            // Dir(α·1_K): E λᵢ = 1/K,  Var λᵢ = (1/K)(1 − 1/K) / (Kα + 1)
            let mean = 1 / Double(k), variance = mean * (1 - mean) / (Double(k) * alpha + 1)
            assertMoments(first, mean: mean, variance: variance, "Dirichlet(\(alpha)) component 0")
            assertMoments(last, mean: mean, variance: variance, "Dirichlet(\(alpha)) component \(k - 1)")
        }
    }

    func testBetaHasTheoreticalMeanAndVariance() {
        for alpha in alphas {
            var random = RandomStream(seed: 11, purpose: .testing)
            // Beta(α, α/2) to see asymmetric shapes too: mean a/(a+b), var ab/((a+b)²(a+b+1))
            let (a, b) = (alpha, alpha / 2)
            let sample = (0..<draws).map { _ in random.nextBeta(a, b) }
            XCTAssertTrue(sample.allSatisfy { (0...1).contains($0) }, "Beta(\(a), \(b)) outside [0, 1]")
            let s = a + b
            assertMoments(sample, mean: a / s, variance: a * b / (s * s * (s + 1)), "Beta(\(a), \(b))")
        }
    }

    func testGammaHasTheoreticalMeanAndVariance() {
        for alpha in alphas {
            var random = RandomStream(seed: 13, purpose: .testing)
            let sample = (0..<draws).map { _ in random.nextGamma(shape: alpha) }
            XCTAssertTrue(sample.allSatisfy { $0 >= 0 })
            assertMoments(sample, mean: alpha, variance: alpha, "Gamma(\(alpha))")  // E = Var = α
        }
    }

    /// The Gamma sampler's normals: mean 0, variance 1, and the share beyond the ziggurat's base
    /// layer, |x| > 3.4426 (P = 5.76·10⁻⁴), all within 4 standard errors over 10⁶ draws.
    func testSamplerNormalsAreStandardNormal() {
        var random = RandomStream(seed: 17, purpose: .testing)
        let gamma = GammaSampler(shape: 1)
        // Gamma(1) = Exponential(1): mean 1, variance 1; and its normals through the public Beta:
        let exponential = (0..<draws).map { _ in gamma.next(&random) }
        assertMoments(exponential, mean: 1, variance: 1, "Gamma(1)")
        let sample = (0..<1_000_000).map { _ in random.nextSamplerNormal() }
        assertMoments(sample, mean: 0, variance: 1, "ziggurat normal")
        let tail = Double(sample.filter { abs($0) > 3.442619855899 }.count) / 1e6
        let p = 2 * 0.000288054                      // 2·(1 − Φ(3.4426)) = erfc(3.4426/√2)
        XCTAssertEqual(tail, p, accuracy: 4 * (p * (1 - p) / 1e6).squareRoot(), "tail share")
    }

    func testSmallAlphaNeverGivesAnAllZeroVector() {
        // α = 0.01 over 128 components: the plain Gamma ratios would underflow to 0/0.
        let k = 128
        let weights = UnsafeMutablePointer<Float>.allocate(capacity: k)
        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: k)
        defer { weights.deallocate(); scratch.deallocate() }
        var random = RandomStream(seed: 3, purpose: .testing)
        for _ in 0..<2000 {
            random.fillDirichlet(concentration: 0.01, count: k, into: weights, scratch: scratch)
            let buffer = UnsafeBufferPointer(start: weights, count: k)
            XCTAssertFalse(buffer.contains { $0.isNaN })
            XCTAssertEqual(buffer.reduce(0, +), 1, accuracy: 1e-5)
        }
    }

    func testConcentrationRangeStaysInsideIt() {
        var random = RandomStream(seed: 5, purpose: .testing)
        let range = Concentration.multiMixDefault
        let values = (0..<10_000).map { _ in range.draw(&random) }
        XCTAssertTrue(values.allSatisfy { (0.5...2.0).contains($0) })
        XCTAssertEqual(values.reduce(0, +) / 10_000, 1.25, accuracy: 0.02)  // U[0.5, 2]: mean 1.25, SE 0.004
        XCTAssertEqual(Concentration.fixed(0.7).draw(&random), 0.7)
    }
}
