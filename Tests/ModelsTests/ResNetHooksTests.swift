import Layers
import Models
import Tensors
import XCTest

/// The two hooks the trainer and the mixing methods use: gradient readiness during backward (for
/// bucketed all-reduce) and a mixing function between stages (manifold mixup).
final class ResNetHooksTests: XCTestCase {
    func tinyModel() -> ResNet {
        let context = LayerContext(makeConvolution: { NaiveConvolution(geometry: $0) })
        return ResNet(name: "resnet20/4", specification: ResNetSpecification.named("resnet20", width: 0.25)!,
                      inputChannels: 1, classCount: 3, seed: 5, context: context)
    }

    /// Every announced tail of the gradient buffer is already final when announced: a snapshot taken
    /// at the announcement equals the gradients after backward ends. Offsets only decrease, to 0.
    func testGradientsAnnouncedReadyAreFinal() {
        let model = tinyModel()
        let arena = model.arena
        let x = FiniteDifferences.randomTensor([4, 8, 8, 1], seed: 1)
        let targets = Tensor(shape: [4, 3], values: [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0])
        let criterion = SoftTargetCrossEntropy(model.context)
        // Poison the gradients so that a stale value cannot pass for a final one.
        arena.gradients.update(repeating: .nan, count: arena.trainableCount)
        var snapshots: [(offset: Int, values: [Float])] = []
        model.onGradientsReady = { offset in
            snapshots.append((offset, Array(UnsafeBufferPointer(start: arena.gradients + offset,
                                                                count: arena.trainableCount - offset))))
        }
        _ = criterion.forward(logits: model.classify(model.pool(model.encode(x))), targets: targets)
        model.encodeBackward(model.poolBackward(model.classifyBackward(criterion.backward())))
        let final = Array(UnsafeBufferPointer(start: arena.gradients, count: arena.trainableCount))
        XCTAssertFalse(final.contains { $0.isNaN })
        XCTAssertEqual(snapshots.count, 1 + 9 + 1)  // classifier, 9 blocks, stem
        XCTAssertEqual(snapshots.last?.offset, 0)
        for (previous, next) in zip(snapshots, snapshots.dropFirst()) { XCTAssertGreaterThanOrEqual(previous.offset, next.offset) }
        for snapshot in snapshots {
            XCTAssertEqual(snapshot.values, Array(final[snapshot.offset...]), "gradients from \(snapshot.offset) changed after being announced")
        }
    }

    /// A mixing function after stage 1 or 2 (here h ↦ h ⊙ m for a fixed random mask m, with backward
    /// dh ↦ dh ⊙ m) is differentiated through: the input gradient matches a directional central
    /// difference (tolerance as in ResNetGradientTests).
    func testMixingBetweenStagesIsDifferentiatedThrough() {
        for stage in [1, 2] {
            let model = tinyModel()
            model.computesInputGradient = true
            let x = FiniteDifferences.randomTensor([4, 8, 8, 1], seed: 2)
            let targets = Tensor(shape: [4, 3], values: [1, 0, 0, 0, 1, 0, 0, 0.5, 0.5, 0.2, 0.3, 0.5])
            let criterion = SoftTargetCrossEntropy(model.context)
            var mask: Tensor?
            let mixed = Tensor(shape: [0]), mixedGradient = Tensor(shape: [0])
            let mix = { (h: Tensor) -> Tensor in
                if mask == nil { mask = FiniteDifferences.randomTensor(h.shape, seed: 3) }
                mixed.resize(to: h.shape)
                for i in 0..<h.count { mixed.data[i] = h.data[i] * mask!.data[i] }
                return mixed
            }
            let mixBackward = { (d: Tensor) -> Tensor in
                mixedGradient.resize(to: d.shape)
                for i in 0..<d.count { mixedGradient.data[i] = d.data[i] * mask!.data[i] }
                return mixedGradient
            }
            let loss = {
                criterion.forward(logits: model.classify(model.pool(model.encode(x, mixAfterStage: stage, mix))), targets: targets)
            }
            _ = loss()
            let g = model.encodeBackward(model.poolBackward(model.classifyBackward(criterion.backward())),
                                         mixAfterStage: stage, mixBackward)!.values
            let norm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            XCTAssertGreaterThan(norm, 0)
            let saved = x.values, h = 1e-4
            for i in 0..<x.count { x.data[i] = Float(Double(saved[i]) + h * Double(g[i]) / norm) }
            let plus = loss()
            for i in 0..<x.count { x.data[i] = Float(Double(saved[i]) - h * Double(g[i]) / norm) }
            let minus = loss()
            XCTAssertEqual((plus - minus) / (2 * h), norm, accuracy: 2e-2 * norm + 5e-4, "stage \(stage)")
        }
    }
}
