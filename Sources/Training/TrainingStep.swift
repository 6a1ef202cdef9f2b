import Layers
import Mixing
import Models
import Tensors

/// One rank's forward and backward for one mini-batch, under any mixing method. Parameter gradients
/// end up in the model's arena (announced to `model.onGradientsReady` as backward completes them).
///
///     x, y ─[mixup | CutMix | the fallback's input mixup]→ encoder ─[manifold mixup after stage k]→ F
///       F ─pool→ Z ─[MultiMix: Z̃ = ZΛ]→ classifier → soft-target CE
///       F ─[Dense MultiMix: Z̃ʲ = ZʲMʲ at every position]→ classifier → soft-target CE
///
/// and backward through the same path in reverse. The mixers and the buffers are made once.
public final class TrainingStep {
    public let model: ResNet
    public let schedule: MixingSchedule
    private let criterion: SoftTargetCrossEntropy
    private let multiMix: MultiMix
    private let denseMultiMix: DenseMultiMix
    private let objective: MixedObjective
    private let pairMix: PairMix
    /// The fallback's input mixup (`mixing.fallback: mixup`): its own α and its own stream.
    private let fallbackMix: PairMix
    private let cutMix: CutMix
    private let input = Tensor(shape: [0])
    private let targets = Tensor(shape: [0])

    /// What a step did.
    public struct Outcome: Sendable {
        /// The mean loss over this rank's (mixed) examples.
        public var loss: Double
        /// The method this step used (the configured one, or the fallback's, ERM or mixup, when its
        /// probability said so).
        public var method: MixingMethod
        /// Whether it was the configured method (false: the fallback).
        public var usedMethod: Bool
        /// How many loss terms the mean is over (b, n, or n·r).
        public var lossTerms: Int
    }

    /// - Parameters:
    ///   - mixedCount: n of MultiMix and Dense MultiMix (per rank).
    ///   - concentration: α (Dirichlet for MultiMix, Beta(α, α) for the pair methods).
    ///   - options: m, the loss scale, the clean-loss weight and the attention of the two MultiMixes.
    ///   - fallbackConcentration: α of the fallback's input mixup, Beta(α, α).
    public init(model: ResNet, schedule: MixingSchedule, mixedCount: Int, concentration: Concentration,
                options: MultiMixOptions = .paper, fallbackConcentration: Concentration = .fixed(1)) {
        self.model = model
        self.schedule = schedule
        criterion = SoftTargetCrossEntropy(model.context)
        multiMix = MultiMix(mixedCount: mixedCount, concentration: concentration, examplesPerMix: options.examplesPerMix)
        denseMultiMix = DenseMultiMix(mixedCount: mixedCount, concentration: concentration,
                                      examplesPerMix: options.examplesPerMix, attentionNormalisation: options.attention)
        objective = MixedObjective(lossScale: options.lossScale, cleanLossWeight: options.cleanLossWeight)
        pairMix = PairMix(concentration: concentration)
        fallbackMix = PairMix(concentration: fallbackConcentration)
        cutMix = CutMix(concentration: concentration)
    }

    /// Runs forward and backward on `count` NHWC images and their labels.
    public func run(images: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int32>, count: Int,
                    imageShape: (height: Int, width: Int, channels: Int), randomness: MixingRandomness) -> Outcome {
        input.resize(to: [count, imageShape.height, imageShape.width, imageShape.channels])
        input.data.update(from: images.baseAddress!, count: input.count)
        SoftTargets.oneHot(labels.prefix(count), classes: model.classCount, into: targets)
        model.isTraining = true

        let usedMethod = schedule.usesMethod(for: randomness)
        let method = usedMethod ? schedule.method : schedule.fallback.method
        var x = input, y = targets
        var mixStage: Int? = nil
        switch method {
        case .mixup where !usedMethod:
            // The fallback: x̃ = λx + (1 − λ)x_π, λ ~ Beta(α_fallback), λ and π from the step's fallback stream.
            (x, y) = fallbackMix.forward(input, targets: targets, randomness: randomness.fallback)
        case .mixup:
            (x, y) = pairMix.forward(input, targets: targets, randomness: randomness)
        case .cutmix:
            (x, y) = cutMix.forward(input, targets: targets, randomness: randomness)
        case .manifoldMixup:
            // The layer: 0 = the input (input mixup), k = after stage k.
            let layer = min(schedule.manifoldLayer(for: randomness), model.stageCount - 1)
            if layer == 0 {
                (x, y) = pairMix.forward(input, targets: targets, randomness: randomness)
            } else {
                mixStage = layer
            }
        case .erm, .multimix, .denseMultimix:
            break
        }

        // Forward to the feature map F [b, h, w, d] (manifold mixup mixes inside the encoder).
        var mixedTargets: Tensor? = nil
        let features = model.encode(x, mixAfterStage: mixStage) { [pairMix, targets] hidden in
            let (mixed, t) = pairMix.forward(hidden, targets: targets, randomness: randomness)
            mixedTargets = t
            return mixed
        }
        if let mixedTargets { y = mixedTargets }

        let loss: Double, terms: Int
        let featureGradient: Tensor
        switch method {
        case .denseMultimix:
            // Z̃ʲ = ZʲMʲ, Ỹʲ = YMʲ at every position j; one classifier for all n·r rows (and the clean
            // pooled batch when the objective has a clean loss).
            let (mixed, mixedY) = denseMultiMix.forward(features: features, targets: y,
                                                        classifierWeight: model.classifierWeight, randomness: randomness)
            let gradient: (mixed: Tensor, clean: UnsafePointer<Float>?)
            (loss, terms, gradient) = classifyMixed(mixed, mixedY, clean: objective.includesCleanRows ? model.pool(features) : mixed,
                                                    y, examplesPerMix: denseMultiMix.examplesPerMix, alpha: denseMultiMix.lastAlpha)
            featureGradient = denseMultiMix.backward(gradient.mixed, addingPooled: gradient.clean)
        case .multimix:
            // Z̃ = ZΛ, Ỹ = YΛ on the pooled embeddings; L = s·mean CE(Z̃, Ỹ) + w·mean CE(Z, Y).
            let z = model.pool(features)
            let (mixed, mixedY) = multiMix.forward(embeddings: z, targets: y, randomness: randomness)
            let gradient: (mixed: Tensor, clean: UnsafePointer<Float>?)
            (loss, terms, gradient) = classifyMixed(mixed, mixedY, clean: z, y, examplesPerMix: multiMix.examplesPerMix,
                                                    alpha: multiMix.lastAlpha)
            featureGradient = model.poolBackward(multiMix.backward(gradient.mixed, adding: gradient.clean))
        default:
            let z = model.pool(features)
            loss = criterion.forward(logits: model.classify(z), targets: y)
            terms = z.shape[0]
            featureGradient = model.poolBackward(model.classifyBackward(criterion.backward()))
        }
        model.encodeBackward(featureGradient, mixAfterStage: mixStage) { [pairMix] gradient in
            pairMix.backward(gradient)
        }
        return Outcome(loss: loss, method: method, usedMethod: usedMethod, lossTerms: terms)
    }

    /// The classifier and the objective L = s·mean CE(mixed) + w·mean CE(clean) on the mixed rows (and
    /// the clean pooled batch Z with targets Y when w > 0), backward to the classifier's inputs: the
    /// loss, its number of terms, and dL/d(mixed rows) with dL/dZ (nil without a clean loss).
    private func classifyMixed(_ mixed: Tensor, _ mixedTargets: Tensor, clean z: Tensor, _ y: Tensor,
                               examplesPerMix: Int?, alpha: Double)
        -> (loss: Double, terms: Int, gradient: (mixed: Tensor, clean: UnsafePointer<Float>?)) {
        let b = y.shape[0]
        let s = objective.mixedScale(examples: b, examplesPerMix: examplesPerMix ?? b, alpha: alpha)
        let (rows, rowTargets) = objective.stack(mixed: mixed, mixedTargets: mixedTargets, clean: z, cleanTargets: y, mixedScale: s)
        let loss = criterion.forward(logits: model.classify(rows), targets: rowTargets)
        return (loss, rows.shape[0], objective.split(model.classifyBackward(criterion.backward())))
    }
}
