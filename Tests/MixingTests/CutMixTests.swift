import Layers
import Mixing
import Tensors
import XCTest

final class CutMixTests: XCTestCase {
    /// A hand-made pair of 4×4 one-channel images: image 0 is all 1, image 1 all 2. Pasting rows 1..<3,
    /// columns 0..<2 of image 1 into image 0 replaces 4 of 16 pixels: λ' = 1 − 4/16 = 0.75.
    func testBoxIsPastedFromThePartnerAndLabelsWeightedByArea() {
        let x = Tensor(shape: [2, 4, 4, 1], values: [Float](repeating: 1, count: 16) + [Float](repeating: 2, count: 16))
        let y = Tensor(shape: [2, 2], values: [1, 0, 0, 1])
        let cutmix = CutMix()
        let box = CutMix.Box(top: 1, bottom: 3, left: 0, right: 2)
        let (mixed, targets) = cutmix.mix(x, targets: y, box: box, permutation: [1, 0])
        let first = Array(mixed.values[0..<16])
        XCTAssertEqual(first, [1, 1, 1, 1,
                               2, 2, 1, 1,
                               2, 2, 1, 1,
                               1, 1, 1, 1])
        XCTAssertEqual(cutmix.labelWeight, 0.75)
        XCTAssertEqual(targets.values, [0.75, 0.25, 0.25, 0.75])
    }

    /// Backward is the adjoint of the paste: ⟨x̃(x), g⟩ = ⟨x, backward(g)⟩ for every x and g (the
    /// pasted pixels' gradient goes to the partner, the rest stays), with a box of 3×2 pixels.
    func testBackwardIsTheAdjointOfThePaste() {
        let x = FiniteDifferences.randomTensor([3, 5, 4, 2], seed: 1), g = FiniteDifferences.randomTensor([3, 5, 4, 2], seed: 2)
        let cutmix = CutMix()
        let (mixed, _) = cutmix.mix(x, targets: Tensor(shape: [3, 2]), box: CutMix.Box(top: 1, bottom: 4, left: 2, right: 4),
                                    permutation: [2, 0, 1])
        let forward = FiniteDifferences.weightedSum(mixed, g)
        let dx = cutmix.backward(g, addingPooled: nil)
        XCTAssertEqual(forward, FiniteDifferences.weightedSum(x, dx), accuracy: 1e-9)
        // The box of image 0 came from image 2: its gradient went there, and image 0's own box got image 1's.
        let inBox = (1 * 4 + 2) * 2, image = 5 * 4 * 2
        XCTAssertEqual(dx.data[2 * image + inBox], g.data[inBox])
        XCTAssertEqual(dx.data[0 * image + inBox], g.data[1 * image + inBox])
        XCTAssertEqual(dx.data[0], g.data[0])
    }

    func testDrawnBoxesStayInsideTheImageAndLabelsStayDistributions() {
        let x = Tensor(shape: [3, 8, 6, 2])
        let y = Tensor(shape: [3, 3], values: [1, 0, 0, 0, 1, 0, 0, 0, 1])
        let cutmix = CutMix(concentration: .fixed(1))
        for step in 0..<200 {
            let (_, t) = cutmix.forward(x, targets: y, randomness: MixingRandomness(seed: 1, epoch: 0, step: step, rank: 0))
            let box = cutmix.box
            XCTAssertTrue(box.top >= 0 && box.top <= box.bottom && box.bottom <= 8)
            XCTAssertTrue(box.left >= 0 && box.left <= box.right && box.right <= 6)
            XCTAssertEqual(cutmix.labelWeight, 1 - Float(box.area) / 48, accuracy: 1e-6)
            for i in 0..<3 { XCTAssertEqual(t.data[i * 3] + t.data[i * 3 + 1] + t.data[i * 3 + 2], 1, accuracy: 1e-6) }
        }
    }

    func testMixingScheduleUsesTheMethodWithProbabilityP() {
        let schedule = MixingSchedule(method: .multimix, probability: 0.3)
        let chosen = (0..<10_000).map { schedule.method(for: MixingRandomness(seed: 2, epoch: 0, step: $0, rank: 0)) }
        let share = Double(chosen.filter { $0 == .multimix }.count) / 10_000
        XCTAssertEqual(share, 0.3, accuracy: 0.02)  // SE √(0.21/10⁴) ≈ 0.0046: 4.3 SE
        XCTAssertTrue(chosen.allSatisfy { $0 == .multimix || $0 == .erm })
        let layers = Set((0..<100).map { schedule.manifoldLayer(for: MixingRandomness(seed: 2, epoch: 0, step: $0, rank: 0)) })
        XCTAssertEqual(layers, [0, 1, 2])
    }
}
