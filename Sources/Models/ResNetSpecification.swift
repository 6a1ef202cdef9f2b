/// A ResNet as data: a stem, a table of stages, a block kind and a shortcut kind. Every named model
/// of the family is one row of `ResNetSpecification.specification(_:width:)`, chosen by `Name`.
public struct ResNetSpecification: Sendable, Equatable {
    public enum Stem: Sendable, Equatable {
        /// 3×3 conv, stride 1 → BN → ReLU (CIFAR ResNets).
        case cifar
        /// 3×3 conv, stride 1, nothing after it: the first block normalises (pre-activation nets).
        case preActivation
        /// 7×7 conv, stride 2, padding 3 → BN → ReLU → 3×3 max pool, stride 2, padding 1 (ImageNet).
        case imageNet
    }

    public enum Block: Sendable, Equatable {
        /// conv3×3(s) → BN → ReLU → conv3×3 → BN (+ shortcut) → ReLU
        case basic
        /// conv1×1 → BN → ReLU → conv3×3(s) → BN → ReLU → conv1×1 (×4 channels) → BN (+ shortcut) → ReLU
        case bottleneck
        /// BN → ReLU → conv3×3(s) → BN → ReLU → conv3×3 (+ shortcut)
        case preActivation
    }

    public enum Shortcut: Sendable, Equatable {
        /// Option A: subsample and zero-pad channels, no parameters.
        case subsample
        /// A 1×1 conv with the block's stride (followed by BN in post-activation blocks).
        case projection
    }

    public struct Stage: Sendable, Equatable {
        /// The block width (a bottleneck's output is 4× this).
        public var channels: Int
        public var blocks: Int
        /// The stride of the stage's first block.
        public var stride: Int

        public init(channels: Int, blocks: Int, stride: Int) {
            self.channels = channels
            self.blocks = blocks
            self.stride = stride
        }
    }

    public var stem: Stem
    public var stemChannels: Int
    public var block: Block
    public var shortcut: Shortcut
    public var stages: [Stage]
    /// Whether a pre-activation net ends with BN → ReLU (`bn`) before the pool: true for the
    /// Manifold Mixup line of PreAct ResNets (non-negative embeddings); false for AlignMixup's, whose
    /// embeddings are the last block's sum, signed.
    public var finalNormalisation: Bool

    public init(stem: Stem, stemChannels: Int, block: Block, shortcut: Shortcut, stages: [Stage],
                finalNormalisation: Bool = true) {
        self.stem = stem
        self.stemChannels = stemChannels
        self.block = block
        self.shortcut = shortcut
        self.stages = stages
        self.finalNormalisation = finalNormalisation
    }

    /// Output channels of a block of width `channels`.
    public func blockOutputChannels(_ channels: Int) -> Int { block == .bottleneck ? 4 * channels : channels }

    /// Feature channels d of the encoder's output.
    public var featureChannels: Int { blockOutputChannels(stages.last!.channels) }

    /// The named models of the family: one case per row of ``specification(_:width:)``. The raw
    /// value is the name on the command line and in configs (`model.name`).
    public enum Name: String, CaseIterable, Sendable {
        case resnet20, resnet32, resnet56, resnet110, preactresnet18, preactresnet34
        case wrn16_8 = "wrn16-8", resnet18, resnet50
        /// AlignMixup's PreAct ResNet-18 (the MultiMix authors' previous code,
        /// `cifar10_100/models/resnet.py`): conv-BN-ReLU stem, no final BN-ReLU.
        case preactresnet18AlignMixup = "preactresnet18-alignmixup"
    }

    /// The names `named(_:)` knows.
    public static let names = Name.allCases.map(\.rawValue)

    /// The specification of a model by name, its channels scaled by `width` (rounded, at least 1);
    /// nil for a name that is not one of ``names``.
    public static func named(_ name: String, width: Double = 1) -> ResNetSpecification? {
        Name(rawValue: name).map { specification($0, width: width) }
    }

    /// The specification of model `name`, its channels scaled by `width` (rounded, at least 1).
    public static func specification(_ name: Name, width: Double = 1) -> ResNetSpecification {
        func stages(_ channels: [Int], _ blocks: [Int]) -> [Stage] {
            zip(channels, blocks).enumerated().map { i, cb in Stage(channels: cb.0, blocks: cb.1, stride: i == 0 ? 1 : 2) }
        }
        var spec: ResNetSpecification
        switch name {
        case .resnet20, .resnet32, .resnet56, .resnet110:
            // depth = 6n + 2
            let n = (Int(name.rawValue.dropFirst("resnet".count))! - 2) / 6
            spec = .init(stem: .cifar, stemChannels: 16, block: .basic, shortcut: .subsample,
                         stages: stages([16, 32, 64], [n, n, n]))
        case .preactresnet18, .preactresnet34:
            spec = .init(stem: .preActivation, stemChannels: 64, block: .preActivation, shortcut: .projection,
                         stages: stages([64, 128, 256, 512], name == .preactresnet18 ? [2, 2, 2, 2] : [3, 4, 6, 3]))
        case .preactresnet18AlignMixup:
            // conv3×3 64 → BN → ReLU, the same pre-activation stages, and the pool straight after the
            // last block's sum: signed embeddings.
            spec = .init(stem: .cifar, stemChannels: 64, block: .preActivation, shortcut: .projection,
                         stages: stages([64, 128, 256, 512], [2, 2, 2, 2]), finalNormalisation: false)
        case .wrn16_8:
            // WideResNet-d-k: n = (d − 4)/6 blocks per stage, widths 16k, 32k, 64k.
            spec = .init(stem: .preActivation, stemChannels: 16, block: .preActivation, shortcut: .projection,
                         stages: stages([128, 256, 512], [2, 2, 2]))
        case .resnet18:
            spec = .init(stem: .imageNet, stemChannels: 64, block: .basic, shortcut: .projection,
                         stages: stages([64, 128, 256, 512], [2, 2, 2, 2]))
        case .resnet50:
            spec = .init(stem: .imageNet, stemChannels: 64, block: .bottleneck, shortcut: .projection,
                         stages: stages([64, 128, 256, 512], [3, 4, 6, 3]))
        }
        let scale = { (c: Int) in max(1, Int((Double(c) * width).rounded())) }
        spec.stemChannels = scale(spec.stemChannels)
        for i in spec.stages.indices { spec.stages[i].channels = scale(spec.stages[i].channels) }
        return spec
    }
}
