import Tensors
import XCTest

/// The counter-based RNG: Philox known answers, determinism, stream independence, distributions.
final class RandomTests: XCTestCase {
    /// Random123 `tests/kat_vectors`, "philox4x32 10" lines: counter, key, expected output (hex words).
    func testPhiloxKnownAnswers() {
        let vectors: [(SIMD4<UInt32>, SIMD2<UInt32>, SIMD4<UInt32>)] = [
            (SIMD4(0, 0, 0, 0), SIMD2(0, 0), SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)),
            (SIMD4(repeating: 0xffff_ffff), SIMD2(repeating: 0xffff_ffff),
             SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)),
            (SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), SIMD2(0xa409_3822, 0x299f_31d0),
             SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)),
        ]
        for (counter, key, expected) in vectors {
            XCTAssertEqual(Philox4x32.block(counter: counter, key: key), expected)
        }
    }

    func testSameKeyGivesSameNumbersAndCopiesKeepPosition() {
        var a = RandomStream(seed: 42, epoch: 3, step: 7, rank: 1, purpose: .augmentation)
        var b = RandomStream(seed: 42, epoch: 3, step: 7, rank: 1, purpose: .augmentation)
        let first = (0..<10).map { _ in a.nextUInt32() }
        XCTAssertEqual(first, (0..<10).map { _ in b.nextUInt32() })
        var copy = a
        XCTAssertEqual(copy.nextUInt32(), a.nextUInt32())
        // Direct block access agrees with sequential draws.
        let fresh = RandomStream(seed: 42, epoch: 3, step: 7, rank: 1, purpose: .augmentation)
        let block1 = fresh.block(at: 1)
        XCTAssertEqual([first[4], first[5], first[6], first[7]], [block1.x, block1.y, block1.z, block1.w])
    }

    func testEveryKeyFieldChangesTheStream() {
        func firstWords(_ stream: RandomStream) -> [UInt32] {
            var s = stream
            return (0..<4).map { _ in s.nextUInt32() }
        }
        let base = firstWords(RandomStream(seed: 1, epoch: 2, step: 3, rank: 4, purpose: .shuffle))
        let variants = [
            RandomStream(seed: 2, epoch: 2, step: 3, rank: 4, purpose: .shuffle),
            RandomStream(seed: 1 << 40 | 1, epoch: 2, step: 3, rank: 4, purpose: .shuffle),
            RandomStream(seed: 1, epoch: 3, step: 3, rank: 4, purpose: .shuffle),
            RandomStream(seed: 1, epoch: 2, step: 4, rank: 4, purpose: .shuffle),
            RandomStream(seed: 1, epoch: 2, step: 3, rank: 5, purpose: .shuffle),
            RandomStream(seed: 1, epoch: 2, step: 3, rank: 4, purpose: .augmentation),
        ]
        for variant in variants { XCTAssertNotEqual(firstWords(variant), base) }
    }

    /// Mean 1/2 and variance 1/12 of 10⁶ uniforms: standard errors are 2.9e-4 and 2.6e-4, so 5σ
    /// bounds of 1.5e-3 fail a correct generator about once in 10⁶ runs (and the seed is fixed).
    func testUniformMomentsAndRange() {
        var stream = RandomStream(seed: 7, purpose: .testing)
        let n = 1_000_000
        var sum = 0.0, sumSquares = 0.0
        var floatSum = 0.0
        for _ in 0..<n {
            let u = stream.nextDouble()
            XCTAssert(u >= 0 && u < 1)
            sum += u; sumSquares += u * u
            let f = stream.nextFloat()
            XCTAssert(f >= 0 && f < 1)
            floatSum += Double(f)
        }
        let mean = sum / Double(n)
        XCTAssertEqual(mean, 0.5, accuracy: 1.5e-3)
        XCTAssertEqual(sumSquares / Double(n) - mean * mean, 1.0 / 12, accuracy: 1.5e-3)
        XCTAssertEqual(floatSum / Double(n), 0.5, accuracy: 1.5e-3)
    }

    /// Chi-squared of 600 000 draws over 6 bins (5 degrees of freedom): P(χ² > 25) ≈ 1.4e-4.
    func testIntegerDrawsAreUniformAndInRange() {
        var stream = RandomStream(seed: 11, purpose: .testing)
        var counts = [Int](repeating: 0, count: 6)
        let n = 600_000
        for _ in 0..<n { counts[stream.nextInt(in: 1...6) - 1] += 1 }
        let expected = Double(n) / 6
        let chiSquared = counts.reduce(0.0) { $0 + pow(Double($1) - expected, 2) / expected }
        XCTAssertLessThan(chiSquared, 25, "counts \(counts)")
        // Extreme bounds stay in range.
        for _ in 0..<1000 {
            XCTAssertEqual(stream.nextInt(below: 1), 0)
            XCTAssert((0..<(1 << 32)).contains(stream.nextInt(below: 1 << 32)))
            XCTAssert((0..<3_000_000_000).contains(stream.nextInt(below: 3_000_000_000)))
        }
    }

    /// Normal draws: mean 0 (SE 1e-3), variance 1 (SE 1.4e-3), 5σ bounds; kurtosis 3 (SE ~5e-3).
    func testNormalMoments() {
        var stream = RandomStream(seed: 3, purpose: .testing)
        let n = 1_000_000
        var s1 = 0.0, s2 = 0.0, s4 = 0.0
        for _ in 0..<n {
            let z = stream.nextNormal()
            s1 += z; s2 += z * z; s4 += z * z * z * z
        }
        XCTAssertEqual(s1 / Double(n), 0, accuracy: 5e-3)
        XCTAssertEqual(s2 / Double(n), 1, accuracy: 7e-3)
        XCTAssertEqual(s4 / Double(n), 3, accuracy: 0.05)
        var scaled = RandomStream(seed: 3, purpose: .testing)
        var plain = RandomStream(seed: 3, purpose: .testing)
        XCTAssertEqual(scaled.nextNormal(mean: 2, standardDeviation: 3), 2 + 3 * Float(plain.nextNormal()))
    }

    /// Every position is equally likely for every element: 60 000 permutations of 4 elements,
    /// each (element, position) cell expects 15 000 (SE ≈ 106); 6σ bound.
    func testPermutationsAreUniformAndComplete() {
        var stream = RandomStream(seed: 5, purpose: .shuffle)
        var cells = [[Int]](repeating: [Int](repeating: 0, count: 4), count: 4)
        for _ in 0..<60_000 {
            let order = stream.permutation(count: 4)
            for (position, element) in order.enumerated() { cells[element][position] += 1 }
        }
        for row in cells { for count in row { XCTAssertEqual(Double(count), 15_000, accuracy: 640) } }
        let big = stream.permutation(count: 10_007)
        XCTAssertEqual(big.sorted(), Array(0..<10_007))
        XCTAssertNotEqual(big, Array(0..<10_007))
        XCTAssertEqual(stream.permutation(count: 0), [])
        XCTAssertEqual(stream.permutation(count: 1), [0])
    }
}
