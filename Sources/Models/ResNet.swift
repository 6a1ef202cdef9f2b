import Layers
import Tensors

/// A ResNet of the family in `ResNetSpecification`, built from layers on one parameter arena.
///
/// The three steps the mixing methods need apart, each with its backward:
///
///     encode:   x [b, H, W, C] (NHWC)  →  F [b, h, w, d]
///     pool:     F                      →  Z [b, d]          (global average)
///     classify: rows [r, d]            →  logits [r, K]     (any r: Z, a mixed Z̃, or F per position)
///
/// Backward walks the same steps in reverse (`classifyBackward`, `poolBackward`, `encodeBackward`),
/// writing every parameter's gradient into the arena (each parameter is used once per step, so
/// gradients are overwritten, never accumulated: no zeroing pass is needed).
public final class ResNet {
    public let name: String
    public let specification: ResNetSpecification
    public let inputChannels: Int
    public let classCount: Int
    public let context: LayerContext
    public var arena: ParameterArena { context.arena }
    /// d, the channels of the encoder's feature map.
    public var featureChannels: Int { specification.featureChannels }

    private let stemConv: Conv2d
    private let stemNorm: BatchNorm2d?
    private let stemPool: MaxPool2d?
    private let blocks: [any ResidualBlock]
    private let finalNorm: BatchNorm2d?
    private let globalPool: GlobalAveragePool
    private let fc: Linear

    /// Training mode (batch statistics in BatchNorm) or evaluation (running statistics).
    public var isTraining: Bool {
        get { context.isTraining }
        set { context.isTraining = newValue }
    }

    /// Whether `encodeBackward` returns dL/dx (off by default: training never needs it).
    public var computesInputGradient: Bool {
        get { stemConv.computesInputGradient }
        set { stemConv.computesInputGradient = newValue }
    }

    /// Every convolution, in forward order (for reports).
    public var convolutions: [Conv2d] { [stemConv] + blocks.flatMap(\.convolutions) }

    /// Builds `name` (one of `ResNetSpecification.names`) on a fresh arena, finalises it and
    /// initialises the parameters from `seed`.
    public convenience init(name: String, inputChannels: Int, classCount: Int, width: Double = 1, seed: UInt64 = 0,
                            makeConvolution: @escaping LayerContext.ConvolutionFactory = { makeConvolutionKernel($0) })
        throws {
        guard let known = ResNetSpecification.Name(rawValue: name) else { throw ModelError.unknownModel(name) }
        self.init(name: known, inputChannels: inputChannels, classCount: classCount, width: width, seed: seed,
                  makeConvolution: makeConvolution)
    }

    /// Builds the named model on a fresh arena, finalises it and initialises the parameters from `seed`.
    public convenience init(name: ResNetSpecification.Name, inputChannels: Int, classCount: Int, width: Double = 1,
                            seed: UInt64 = 0,
                            makeConvolution: @escaping LayerContext.ConvolutionFactory = { makeConvolutionKernel($0) }) {
        self.init(name: name.rawValue, specification: .specification(name, width: width), inputChannels: inputChannels,
                  classCount: classCount, seed: seed, context: LayerContext(makeConvolution: makeConvolution))
    }

    public init(name: String, specification spec: ResNetSpecification, inputChannels: Int, classCount: Int,
                seed: UInt64, context: LayerContext) {
        precondition(inputChannels >= 1 && classCount >= 1, "ResNet: \(inputChannels) channels, \(classCount) classes")
        self.name = name
        self.specification = spec
        self.inputChannels = inputChannels
        self.classCount = classCount
        self.context = context
        // Stem: conv1 [→ bn1 → relu [→ maxpool]]
        let imageNet = spec.stem == .imageNet
        stemConv = Conv2d(context, name: "conv1", inputChannels: inputChannels, outputChannels: spec.stemChannels,
                          kernelSize: imageNet ? 7 : 3, stride: imageNet ? 2 : 1, padding: imageNet ? 3 : 1)
        stemConv.computesInputGradient = false
        stemNorm = spec.stem == .preActivation
            ? nil : BatchNorm2d(context, name: "bn1", channels: spec.stemChannels, activation: .relu)
        stemPool = imageNet ? MaxPool2d(context, kernelSize: 3, stride: 2, padding: 1) : nil
        // Stages: layer{i}.{j}
        var blocks: [any ResidualBlock] = []
        var channels = spec.stemChannels
        for (i, stage) in spec.stages.enumerated() {
            for j in 0..<stage.blocks {
                let blockName = "layer\(i + 1).\(j)"
                let stride = j == 0 ? stage.stride : 1
                let out = spec.blockOutputChannels(stage.channels)
                switch spec.block {
                case .basic:
                    blocks.append(PostActivationBlock(context, name: blockName, inputChannels: channels,
                                                      width: stage.channels, outputChannels: out, kernels: [3, 3],
                                                      strideUnit: 0, stride: stride, shortcut: spec.shortcut))
                case .bottleneck:
                    blocks.append(PostActivationBlock(context, name: blockName, inputChannels: channels,
                                                      width: stage.channels, outputChannels: out, kernels: [1, 3, 1],
                                                      strideUnit: 1, stride: stride, shortcut: spec.shortcut))
                case .preActivation:
                    blocks.append(PreActivationBlock(context, name: blockName, inputChannels: channels,
                                                     outputChannels: out, stride: stride))
                }
                channels = out
            }
        }
        self.blocks = blocks
        // Pre-activation nets end with BN → ReLU (`bn`), except AlignMixup's (`finalNormalisation` false).
        finalNorm = spec.block == .preActivation && spec.finalNormalisation
            ? BatchNorm2d(context, name: "bn", channels: channels, activation: .relu) : nil
        globalPool = GlobalAveragePool(context)
        fc = Linear(context, name: "fc", inputFeatures: channels, outputFeatures: classCount)
        context.arena.finalize()
        var random = ParameterInitializer(seed: seed)
        for conv in convolutions { conv.initialize(&random) }
        fc.initialize(&random)
    }

    /// F = encoder(x)     x: [b, H, W, C] NHWC → F: [b, h, w, d]
    ///
    /// With `mixAfterStage` k ≥ 1, the hidden state after stage k goes through `mix` (manifold
    /// mixup) before the rest of the encoder; `encodeBackward` then needs the matching `mixBackward`.
    public func encode(_ x: Tensor, mixAfterStage stage: Int? = nil, _ mix: ((Tensor) -> Tensor)? = nil) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[3] == inputChannels,
                     "\(name): input \(x.shape) is not [b, H, W, \(inputChannels)] (NHWC)")
        var h = stemConv.forward(x)
        if let stemNorm { h = stemNorm.forward(h) }
        if let stemPool { h = stemPool.forward(h) }
        for (i, block) in blocks.enumerated() {
            h = block.forward(h)
            if let stage, let mix, i == lastBlockOfStage(stage) { h = mix(h) }
        }
        if let finalNorm { h = finalNorm.forward(h) }
        return h
    }

    /// Backward through the encoder: parameter gradients into the arena; returns dL/dx when
    /// `computesInputGradient`, else nil. After each block, `onGradientsReady` hears the arena offset
    /// from which every gradient is final (so gradient buckets can be all-reduced during backward).
    @discardableResult
    public func encodeBackward(_ dF: Tensor, mixAfterStage stage: Int? = nil,
                               _ mixBackward: ((Tensor) -> Tensor)? = nil) -> Tensor? {
        var d = dF
        if let finalNorm { d = finalNorm.backward(d) }
        for (i, block) in blocks.enumerated().reversed() {
            if let stage, let mixBackward, i == lastBlockOfStage(stage) { d = mixBackward(d) }
            d = block.backward(d)
            onGradientsReady?(blockGradientOffsets[i])
        }
        if let stemPool { d = stemPool.backward(d) }
        if let stemNorm { d = stemNorm.backward(d) }
        let dx = stemConv.backward(d)
        onGradientsReady?(0)
        return dx
    }

    /// Called during backward with the arena offset from which every gradient is final.
    public var onGradientsReady: ((Int) -> Void)?

    /// The number of stages (manifold mixup mixes after stage 1 …).
    public var stageCount: Int { specification.stages.count }

    /// The classifier's weight W [K, d] copied into `w` (Dense MultiMix's attention reads it).
    public func copyClassifierWeight(into w: Tensor) { fc.copyWeight(into: w) }

    /// Index in `blocks` of stage `stage`'s last block (stages count from 1).
    private func lastBlockOfStage(_ stage: Int) -> Int {
        precondition(stage >= 1 && stage <= specification.stages.count, "\(name) has no stage \(stage)")
        return specification.stages.prefix(stage).reduce(0) { $0 + $1.blocks } - 1
    }

    /// The smallest gradient offset of each block's parameters: parameters are laid out in forward
    /// order, so once block i's backward is done every gradient from there on is final.
    private lazy var blockGradientOffsets: [Int] = (0..<blocks.count).map { i in
        let prefix = blockNames[i] + "."
        return arena.entries.filter { $0.role != .buffer && $0.name.hasPrefix(prefix) }.map(\.offset).min() ?? 0
    }

    /// Torchvision names of the blocks, in order: `layer{i}.{j}`.
    private var blockNames: [String] {
        specification.stages.enumerated().flatMap { i, stage in (0..<stage.blocks).map { "layer\(i + 1).\($0)" } }
    }

    /// Z = mean over positions of F     F: [b, h, w, d] → Z: [b, d]
    public func pool(_ features: Tensor) -> Tensor { globalPool.forward(features) }

    /// dF = dZ / (h·w), broadcast over positions.
    public func poolBackward(_ dZ: Tensor) -> Tensor { globalPool.backward(dZ) }

    /// logits = rows·Wᵀ + b     rows: [r, d] (or any tensor of r·d elements) → [r, K]
    public func classify(_ rows: Tensor) -> Tensor { fc.forward(rows) }

    /// Returns dL/drows; the classifier's gradients go into the arena (and are then final).
    public func classifyBackward(_ dLogits: Tensor) -> Tensor {
        let dRows = fc.backward(dLogits)
        onGradientsReady?(arena.entry(fc.weight).offset)
        return dRows
    }

    /// The number of trainable parameters.
    public var parameterCount: Int { arena.trainableCount }
}

public enum ModelError: Error, CustomStringConvertible {
    case unknownModel(String)

    public var description: String {
        switch self {
        case .unknownModel(let name):
            "unknown model '\(name)'; known models: \(ResNetSpecification.names.joined(separator: ", "))"
        }
    }
}
