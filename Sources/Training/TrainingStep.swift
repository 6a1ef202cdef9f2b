import Layers
import Mixing
import Models
import Tensors

/// One rank's forward and backward for one mini-batch, under any mixing method. Parameter gradients
/// end up in the model's arena (announced to `model.onGradientsReady` as backward completes them).
///
/// Every method is a ``Mixer`` that mixes at its stage; the step drives them all the same way:
///
///     x, Y ─[.input]→ encoder ─[.hidden(k)]→ F ─[.positions]→ rows ┐
///                                            F ─pool→ Z ─[.pooled]→ rows ├─classifier→ objective → L
///                                            F ─pool→ Z ──────────→ rows ┘   (.none, .input, .hidden)
///
/// and backward through the same path in reverse. The objective (``MixedObjective``) owns Y, the
/// stacking of mixed and clean rows and the cross-entropy. The mixers and the buffers are made once.
public final class TrainingStep {
    public let model: ResNet
    public let schedule: MixingSchedule
    /// The configured method's mixer.
    public let mixer: any Mixer
    /// The mixer of the steps that do not use the configured method (`mixing.fallback`).
    public let fallbackMixer: any Mixer
    public let objective: MixedObjective
    private let input = Tensor(shape: [0])
    /// W, copied for a mixer that asks (``MixingContext/classifierWeight``).
    private let classifierWeight = Tensor(shape: [0])

    /// What a step did.
    public struct Outcome: Sendable {
        /// The mean loss over this rank's (mixed) examples.
        public var loss: Double
        /// The method this step used (the configured one, or the fallback's, ERM or mixup, when its
        /// probability said so).
        public var method: MixingMethod
        /// Whether it was the configured method (false: the fallback).
        public var usedMethod: Bool
        /// How many loss terms the mean is over (b, n, or n·r; plus b with a clean loss).
        public var lossTerms: Int
        /// Where it mixed.
        public var stage: MixingStage
    }

    /// The step of `schedule` with the mixers its methods name (``MixingMethod/mixer(mixedCount:concentration:options:)``).
    /// - Parameters:
    ///   - mixedCount: n of MultiMix and Dense MultiMix (per rank).
    ///   - concentration: α (Dirichlet for MultiMix, Beta(α, α) for the pair methods).
    ///   - options: m, the loss scale, the clean-loss weight and the attention of the two MultiMixes.
    ///   - fallbackConcentration: α of the fallback's input mixup, Beta(α, α).
    public convenience init(model: ResNet, schedule: MixingSchedule, mixedCount: Int, concentration: Concentration,
                            options: MultiMixOptions = .paper, fallbackConcentration: Concentration = .fixed(1)) {
        self.init(model: model, schedule: schedule,
                  mixer: schedule.method.mixer(mixedCount: mixedCount, concentration: concentration, options: options),
                  fallbackMixer: schedule.fallback.mixer(concentration: fallbackConcentration),
                  objective: MixedObjective(lossScale: options.lossScale, cleanLossWeight: options.cleanLossWeight,
                                            context: model.context))
    }

    /// A step with the given mixers: `mixer` runs `schedule.method`, `fallbackMixer` its fallback.
    public init(model: ResNet, schedule: MixingSchedule, mixer: any Mixer, fallbackMixer: any Mixer, objective: MixedObjective) {
        self.model = model
        self.schedule = schedule
        self.mixer = mixer
        self.fallbackMixer = fallbackMixer
        self.objective = objective
    }

    /// Runs forward and backward on `count` NHWC images and their labels.
    public func run(images: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int32>, count: Int,
                    imageShape: (height: Int, width: Int, channels: Int), randomness: MixingRandomness) -> Outcome {
        input.resize(to: [count, imageShape.height, imageShape.width, imageShape.channels])
        input.data.update(from: images.baseAddress!, count: input.count)
        let y = objective.setLabels(labels.prefix(count), classes: model.classCount)
        model.isTraining = true

        let usedMethod = schedule.usesMethod(for: randomness)
        let mixer = usedMethod ? mixer : fallbackMixer
        let stage = mixer.stage(for: randomness, encoderStages: model.stageCount)
        let context = MixingContext(randomness: randomness) { [model, classifierWeight] in
            model.copyClassifierWeight(into: classifierWeight)
            return classifierWeight
        }

        // x, Y ─[.input]→ encoder ─[.hidden(k)]→ F: x̃ and Ỹ replace x and Y.
        var x = input, targets = y
        if stage == .input {
            let mixed = mixer.forward(input, targets: y, context: context)
            (x, targets) = (mixed.values, mixed.targets)
        }
        let features = model.encode(x, mixAfterStage: stage.encoderStage) { hidden in
            let mixed = mixer.forward(hidden, targets: y, context: context)
            targets = mixed.targets
            return mixed.values
        }

        // The classifier's rows: mixed from F (.positions) or Z (.pooled), or Z itself.
        let rows: MixedBatch
        var z: Tensor? = nil
        switch stage {
        case .positions:
            rows = mixer.forward(features, targets: y, context: context)
        case .pooled:
            let pooled = model.pool(features)
            z = pooled
            rows = mixer.forward(pooled, targets: y, context: context)
        case .none, .input, .hidden:
            rows = MixedBatch(values: model.pool(features), targets: targets)
        }
        let clean = objective.needsCleanRows(for: rows) ? z ?? model.pool(features) : nil
        let loss = objective.loss(logits: model.classify(objective.rows(for: rows, clean: clean)))

        // Backward: classifier, then the rows' mixer (dL/dF or dL/dZ), pooling, the encoder (with the
        // hidden mixer's backward at its stage).
        let (dRows, dClean) = objective.split(model.classifyBackward(objective.logitGradient()))
        let dF: Tensor
        switch stage {
        case .positions: dF = mixer.backward(dRows, addingPooled: dClean)
        case .pooled: dF = model.poolBackward(mixer.backward(dRows, addingPooled: dClean))
        case .none, .input, .hidden: dF = model.poolBackward(dRows)
        }
        model.encodeBackward(dF, mixAfterStage: stage.encoderStage) { gradient in
            mixer.backward(gradient, addingPooled: nil)
        }
        return Outcome(loss: loss, method: usedMethod ? schedule.method : schedule.fallback.method,
                       usedMethod: usedMethod, lossTerms: objective.rowCount, stage: stage)
    }
}
