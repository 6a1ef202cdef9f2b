import Foundation
import Layers
import Mixing
import Models
import Tensors
import Training
import XCTest

/// The training step under `probability: 0.5, fallback: mixup`: each step runs MultiMix (n loss terms)
/// or input mixup (b terms) as the schedule draws it, and a fallback step's loss is the soft-target
/// cross-entropy of the model on x̃ = λx + (1 − λ)x_π with ỹ = λy + (1 − λ)y_π, λ and π recomputed
/// from the step's fallback stream.
final class FallbackStepTests: XCTestCase {
    func testFallbackStepsAreInputMixupOnTheirOwnStream() {
        let b = 4, classes = 10, n = 16, alpha = 2.0
        let model = ResNet(name: .resnet20, inputChannels: 1, classCount: classes, width: 0.25, seed: 1)
        let schedule = MixingSchedule(method: .multimix, probability: 0.5, fallback: .mixup)
        let step = TrainingStep(model: model, schedule: schedule, mixedCount: n, concentration: .uniform(0.5...2.0),
                                fallbackConcentration: .fixed(alpha))
        let images = FiniteDifferences.randomTensor([b, 8, 8, 1], seed: 9)
        let labels: [Int32] = [3, 1, 4, 1]
        var seen: Set<Bool> = []
        for index in 0..<16 {
            let randomness = MixingRandomness(seed: 3, epoch: 1, step: index, rank: 0)
            let outcome = labels.withUnsafeBufferPointer { y in
                step.run(images: UnsafeBufferPointer(start: images.data, count: images.count), labels: y, count: b,
                         imageShape: (8, 8, 1), randomness: randomness)
            }
            let usesMethod = schedule.usesMethod(for: randomness)
            seen.insert(usesMethod)
            XCTAssertEqual(outcome.usedMethod, usesMethod)
            XCTAssertEqual(outcome.method, usesMethod ? .multimix : .mixup)
            XCTAssertEqual(outcome.lossTerms, usesMethod ? n : b)
            guard !usesMethod else { continue }
            // By hand: λ ~ Beta(2, 2), then π, from (seed 3, epoch 1, step, rank 0, .fallbackMixing).
            var stream = RandomStream(seed: 3, epoch: 1, step: index, rank: 0, purpose: .fallbackMixing)
            let lambda = Float(stream.nextBeta(alpha, alpha))
            let permutation = stream.permutation(count: b)
            let row = 64
            let mixed = Tensor(shape: [b, 8, 8, 1], values: (0..<(b * row)).map { e in
                let i = e / row, k = e % row
                return lambda * images.data[i * row + k] + (1 - lambda) * images.data[permutation[i] * row + k]
            })
            let logits = model.classify(model.pool(model.encode(mixed)))
            var loss = 0.0
            for i in 0..<b {
                let z = (0..<classes).map { Double(logits.data[i * classes + $0]) }
                let top = z.max()!
                let logSum = top + log(z.map { exp($0 - top) }.reduce(0, +))
                for c in 0..<classes {
                    let target = (c == Int(labels[i]) ? Double(lambda) : 0) + (c == Int(labels[permutation[i]]) ? Double(1 - lambda) : 0)
                    loss -= target * (z[c] - logSum)
                }
            }
            XCTAssertEqual(outcome.loss, loss / Double(b), accuracy: 1e-4 * max(1, abs(loss)))
        }
        XCTAssertEqual(seen, [true, false], "16 steps at p = 0.5 give both kinds")
    }
}
