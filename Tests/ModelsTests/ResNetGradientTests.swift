import Layers
import Models
import Tensors
import XCTest

/// Whole-network gradient checks: tiny members of each block family, trained mode (batch
/// statistics), soft targets, L = mean soft-target cross-entropy of classify(pool(encode(x))).
///
/// Per parameter tensor θ (and for the input x) with analytic gradient g, two directional
/// derivatives by central differences, each a single pair of forwards:
///   - along û = g/‖g‖: the slope must be ‖g‖ (catches scale and sign errors);
///   - along a random unit v: the slope must be ⟨g, v⟩ (catches wrong directions).
/// Tolerance 2e-2·‖g‖ + 5e-4, from measurement and the error model: these nets are tiny (4–16
/// channels, batch 4, BatchNorm over as few as 16 values), so L is strongly curved. At h = 1e-2 the
/// truncation error reached 10% of ‖g‖; at 1e-3, 2–4%; at h = 1e-4 all but one check are within 2%,
/// i.e. the error falls as h², as it must for a correct gradient (a wrong term would not shrink).
/// At h = 1e-4 float32 rounding of L (≈ 2⁻²⁴·L·a few, /2h) adds up to ≈ 5e-4 absolute.
final class ResNetGradientTests: XCTestCase {
    func tinyModels() -> [(String, ResNetSpecification, inputChannels: Int, size: Int)] {
        let resnet20 = ResNetSpecification.named("resnet20", width: 0.25)!
        var preact = ResNetSpecification.named("preactresnet18", width: 1.0 / 16)!
        preact.stages = Array(preact.stages.prefix(2))
        var bottleneck = ResNetSpecification.named("resnet50", width: 1.0 / 32)!
        bottleneck.stages = [.init(channels: 2, blocks: 1, stride: 1), .init(channels: 3, blocks: 2, stride: 2)]
        return [("resnet20/4", resnet20, 1, 8), ("preact", preact, 3, 7), ("bottleneck", bottleneck, 2, 16)]
    }

    func testWholeNetworkGradients() {
        for (name, spec, channels, size) in tinyModels() {
            let context = LayerContext(makeConvolution: { NaiveConvolution(geometry: $0) })
            let model = ResNet(name: name, specification: spec, inputChannels: channels, classCount: 3, seed: 5,
                               context: context)
            model.computesInputGradient = true
            let x = FiniteDifferences.randomTensor([4, size, size, channels], seed: 1)
            let targets = Tensor(shape: [4, 3], values: [1, 0, 0, 0, 0.3, 0.7, 0, 1, 0, 0.5, 0.25, 0.25])
            let criterion = SoftTargetCrossEntropy(context)
            let arena = model.arena
            // BatchNorm's running statistics move on every forward; the loss does not depend on them
            // in training mode, so they are left alone.
            let loss = { criterion.forward(logits: model.classify(model.pool(model.encode(x))), targets: targets) }
            _ = loss()
            let dX = model.encodeBackward(model.poolBackward(model.classifyBackward(criterion.backward())))!.values
            let gradients = Array(UnsafeBufferPointer(start: arena.gradients, count: arena.trainableCount))

            var tensors = arena.entries.filter { $0.role != .buffer }.map { ($0.name, arena.values + $0.offset, $0.count,
                                                                            Array(gradients[$0.offset..<($0.offset + $0.count)])) }
            tensors.append(("input", x.data, x.count, dX))
            var random = ParameterInitializer(seed: 9)
            for (tensorName, values, count, g) in tensors {
                let norm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                XCTAssertGreaterThan(norm, 0, "\(name) \(tensorName): zero gradient")
                guard norm > 0 else { continue }
                let v = Tensor(shape: [count])
                random.fillNormal(v.data, count: count, std: 1)
                let vNorm = v.values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let directions: [(String, [Double])] = [
                    ("along g", g.map { Double($0) / norm }),
                    ("random", v.values.map { Double($0) / vNorm }),
                ]
                for (label, u) in directions {
                    let expected = zip(g, u).reduce(0.0) { $0 + Double($1.0) * $1.1 }
                    let saved = Array(UnsafeBufferPointer(start: values, count: count))
                    let h = 1e-4
                    for i in 0..<count { values[i] = Float(Double(saved[i]) + h * u[i]) }
                    let plus = loss()
                    for i in 0..<count { values[i] = Float(Double(saved[i]) - h * u[i]) }
                    let minus = loss()
                    values.update(from: saved, count: count)
                    let numeric = (plus - minus) / (2 * h)
                    XCTAssertLessThanOrEqual(abs(numeric - expected), 2e-2 * norm + 5e-4,
                                             "\(name) \(tensorName) \(label): numeric \(numeric), analytic \(expected), ‖g‖ \(norm)")
                }
            }
        }
    }
}
