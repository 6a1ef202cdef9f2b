import Layers
import Mixing
import Models
import Tensors
import Training
import XCTest

/// One `TrainingStep` per mixing method (every ``MixingMethod`` case, and the fallback of
/// `mixing.fallback: mixup`), in process, on a tiny ResNet-20 (width ¼, 8×8 one-channel images, b = 4,
/// 3 classes, the naive convolution): the loss is finite, its terms and stage are the method's, and the
/// step's parameter gradient g matches central differences of the objective along g/‖g‖ and two random
/// directions tilted towards g, as in `ResNetGradientTests` (the closest of three steps; within
/// 2.5%·‖g‖ + 3e-4, which a 5% error in g exceeds), for the encoder's parameters and the classifier's
/// apart (the classifier's gradient would otherwise hide an error in what flows back through a mixer):
///
///     numeric  = (L(θ₊) − L(θ₋)) / 2h        θ± = float32(θ ± h·u)
///     analytic = ⟨g, θ₊ − θ₋⟩ / 2h
///
/// Measured: the worst check is at 10% of what is allowed (Dense MultiMix's encoder), every other at
/// 4% or less, which leaves room for other CPUs' rounding and thread counts; dropping the clean rows'
/// gradient from Dense MultiMix's backward fails at 444%.
///
/// A step's draws (λ, π, Λ, the box, the layer) do not depend on θ, so L(θ) is the step itself, run
/// again with the same randomness. Dense MultiMix's attention does (it reads F and W) and is detached
/// by design, so its L holds the step's mixing matrices Mʲ fixed. MultiMix and Dense MultiMix run
/// with a clean loss (w = 0.5) and the ERM-matched scale, so stacking and the pooled gradient are in
/// the check; the other methods run with the same options, which must leave their objective alone.
final class TrainingStepTests: XCTestCase {
    static let (b, size, classes, n) = (4, 8, 3, 5)
    static let options = MultiMixOptions(examplesPerMix: 3, lossScale: .ermMatched, cleanLossWeight: 0.5)
    static let steps = [1e-3, 3e-4, 1e-4]
    static func allowed(_ norm: Double) -> Double { 2.5e-2 * norm + 3e-4 }

    /// A method's case: its schedule and the loss terms and stage one step must report.
    struct Case {
        var name: String
        var schedule: MixingSchedule
        var terms: Int
        var stage: (MixingRandomness) -> MixingStage
    }

    func cases() -> [Case] {
        let (b, n) = (Self.b, Self.n)
        let r = 4  // F is 2×2 after two stride-2 stages
        return MixingMethod.allCases.map { method -> Case in
            let schedule = MixingSchedule(method: method)
            switch method {
            case .erm: return Case(name: "erm", schedule: schedule, terms: b) { _ in .none }
            case .mixup, .cutmix: return Case(name: method.rawValue, schedule: schedule, terms: b) { _ in .input }
            case .manifoldMixup:
                return Case(name: method.rawValue, schedule: schedule, terms: b) { randomness in
                    let layer = ManifoldMixup.layer(for: randomness)
                    return layer == 0 ? .input : .hidden(afterStage: layer)
                }
            case .multimix: return Case(name: "multimix", schedule: schedule, terms: n + b) { _ in .pooled }
            case .denseMultimix: return Case(name: "dense-multimix", schedule: schedule, terms: n * r + b) { _ in .positions }
            }
        } + [Case(name: "fallback mixup", schedule: MixingSchedule(method: .multimix, probability: 0, fallback: .mixup),
                  terms: b) { _ in .input }]
    }

    func testEveryMethodRunsOneStepWhoseGradientMatchesFiniteDifferences() {
        let images = FiniteDifferences.randomTensor([Self.b, Self.size, Self.size, 1], seed: 7)
        let labels: [Int32] = [2, 0, 1, 2]
        var stagesSeen: Set<String> = []
        for testCase in cases() {
            for stepIndex in 0..<(testCase.schedule.method == .manifoldMixup ? 4 : 1) {
                let model = ResNet(name: .resnet20, inputChannels: 1, classCount: Self.classes, width: 0.25, seed: 1,
                                   makeConvolution: { NaiveConvolution(geometry: $0) })
                let step = TrainingStep(model: model, schedule: testCase.schedule, mixedCount: Self.n,
                                        concentration: .uniform(0.5...2.0), options: Self.options,
                                        fallbackConcentration: .fixed(2))
                let randomness = MixingRandomness(seed: 5, epoch: 2, step: stepIndex, rank: 1)
                let run = {
                    labels.withUnsafeBufferPointer { y in
                        step.run(images: UnsafeBufferPointer(start: images.data, count: images.count), labels: y, count: Self.b,
                                 imageShape: (Self.size, Self.size, 1), randomness: randomness)
                    }
                }
                let outcome = run()
                let name = "\(testCase.name), step \(stepIndex)"
                XCTAssertTrue(outcome.loss.isFinite && outcome.loss > 0, "\(name): loss \(outcome.loss)")
                XCTAssertEqual(outcome.lossTerms, testCase.terms, name)
                XCTAssertEqual(outcome.stage, testCase.stage(randomness), name)
                stagesSeen.insert("\(outcome.stage)")
                let gradient = Array(UnsafeBufferPointer(start: model.arena.gradients, count: model.arena.trainableCount))

                let loss: () -> Double
                if let dense = step.mixer as? DenseMultiMix {
                    loss = Self.lossWithMixingHeld(dense, model: model, objective: step.objective, images: images)
                } else {
                    loss = { run().loss }
                }
                // The encoder's parameters (all before the classifier's, in forward order), then the classifier's.
                let classifier = model.arena.entry(named: "fc.weight")!.offset
                for (part, range) in [("encoder", 0..<classifier), ("classifier", classifier..<gradient.count)] {
                    let (error, plantedError) = Self.check(Array(gradient[range]), values: model.arena.values + range.lowerBound,
                                                           loss: loss)
                    XCTAssertLessThanOrEqual(error, 1, "\(name), \(part): numeric and analytic derivatives differ by \(error) × what is allowed")
                    XCTAssertGreaterThan(plantedError, 1, "\(name), \(part): a gradient 5% too large would pass")
                    print("\(name) (\(outcome.stage)), \(part): worst check at \(String(format: "%.0f", 100 * error))% of what is allowed, a 5% error at \(String(format: "%.0f", 100 * plantedError))%")
                }
            }
        }
        XCTAssertTrue(stagesSeen.contains { $0.hasPrefix("hidden") }, "manifold mixup's four steps mix inside the encoder at least once: \(stagesSeen)")
    }

    /// Dense MultiMix's objective with the step's Mʲ (and so its attention) fixed: F → Z̃ʲ = ZʲMʲ, Ỹ =
    /// YMʲ → the classifier beside the clean pooled batch → L.
    static func lossWithMixingHeld(_ dense: DenseMultiMix, model: ResNet, objective: MixedObjective,
                                   images: Tensor) -> () -> Double {
        let interpolation = MixedBatch.Interpolation(examplesPerMix: options.examplesPerMix!, alpha: dense.lastAlpha)
        return {
            let features = model.encode(images)
            let (rows, targets) = dense.mix(features: features, targets: objective.targets)
            let batch = MixedBatch(values: rows, targets: targets, interpolation: interpolation)
            return objective.loss(logits: model.classify(objective.rows(for: batch, clean: model.pool(features))))
        }
    }

    /// The worst direction's |numeric − analytic| over what is allowed (closest step), for g and for
    /// 1.05·g along g/‖g‖.
    static func check(_ g: [Float], values: UnsafeMutablePointer<Float>, loss: () -> Double) -> (error: Double, planted: Double) {
        let count = g.count
        let norm = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let saved = Array(UnsafeBufferPointer(start: values, count: count))
        defer { values.update(from: saved, count: count) }
        var random = ParameterInitializer(seed: 11)
        var worst = 0.0, planted = Double.infinity
        for direction in 0..<3 {
            // u₀ = g/‖g‖, then uₖ ∝ 2·g/‖g‖ + rₖ (rₖ a random unit vector)
            let u = FiniteDifferences.direction(towards: g, norm: norm, tilted: direction > 0, random: &random)
            var best = Double.infinity
            for h in steps {
                for i in 0..<count { values[i] = Float(Double(saved[i]) + h * u[i]) }
                let plusValues = Array(UnsafeBufferPointer(start: values, count: count))
                let plus = loss()
                for i in 0..<count { values[i] = Float(Double(saved[i]) - h * u[i]) }
                var analytic = 0.0
                for i in 0..<count { analytic += Double(g[i]) * (Double(plusValues[i]) - Double(values[i])) }
                let minus = loss()
                let numeric = (plus - minus) / (2 * h)
                analytic /= 2 * h
                best = min(best, abs(numeric - analytic) / allowed(norm))
                if direction == 0 { planted = min(planted, abs(numeric - 1.05 * analytic) / allowed(1.05 * norm)) }
            }
            worst = max(worst, best)
        }
        return (worst, planted)
    }
}
