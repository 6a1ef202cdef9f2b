import Tensors

/// CutMix (Yun et al. 2019): paste a box from a partner image, weight the labels by area.
///
///     λ ~ Beta(α, α);  box of size (H·√(1−λ)) × (W·√(1−λ)), centre uniform, clipped to the image
///     x̃ᵢ = xᵢ outside the box, x_{π(i)} inside
///     ỹᵢ = λ' yᵢ + (1 − λ') y_{π(i)},   λ' = 1 − (area actually pasted) / (H·W)
///
/// Images are NHWC. Mixing happens on the input, whose gradient training never needs; backward is
/// the adjoint all the same: dxᵢ = dx̃ᵢ outside the box, dx_{π(i)} = dx̃ᵢ inside it.
public final class CutMix: Mixer {
    /// A pasted box: rows `top..<bottom`, columns `left..<right`.
    public struct Box: Equatable, Sendable {
        public var top: Int, bottom: Int, left: Int, right: Int

        public init(top: Int, bottom: Int, left: Int, right: Int) {
            self.top = top
            self.bottom = bottom
            self.left = left
            self.right = right
        }

        public var area: Int { (bottom - top) * (right - left) }
    }

    public let concentration: Concentration
    /// The box of the last step.
    public private(set) var box = Box(top: 0, bottom: 0, left: 0, right: 0)
    /// λ' of the last step: the share of each image that is its own.
    public private(set) var labelWeight: Float = 1
    public private(set) var permutation: [Int] = []

    public let mixedInput = Tensor(shape: [0])
    public let mixedTargets = Tensor(shape: [0])
    private let inputGradient = Tensor(shape: [0])

    public init(concentration: Concentration = .fixed(1)) {
        precondition(concentration.isValid, "CutMix: invalid α \(concentration)")
        self.concentration = concentration
    }

    /// Draws λ, the box and π, and returns (x̃, ỹ) for images x [b, H, W, C] and targets y (b×c).
    public func forward(_ x: Tensor, targets y: Tensor, randomness: MixingRandomness) -> (input: Tensor, targets: Tensor) {
        precondition(x.shape.count == 4, "CutMix: images \(x.shape) must be NHWC")
        var random = randomness.stream()
        let alpha = concentration.draw(&random, progress: randomness.progress)
        let lambda = random.nextBeta(alpha, alpha)
        let (height, width) = (x.shape[1], x.shape[2])
        let cutHeight = Int(Double(height) * (1 - lambda).squareRoot())
        let cutWidth = Int(Double(width) * (1 - lambda).squareRoot())
        let centreY = random.nextInt(below: height), centreX = random.nextInt(below: width)
        let box = Box(top: max(centreY - cutHeight / 2, 0), bottom: min(centreY + cutHeight / 2, height),
                      left: max(centreX - cutWidth / 2, 0), right: min(centreX + cutWidth / 2, width))
        return mix(x, targets: y, box: box, permutation: random.permutation(count: x.shape[0]))
    }

    /// (x̃, ỹ) for a given box and π: the deterministic half of `forward`.
    public func mix(_ x: Tensor, targets y: Tensor, box: Box, permutation: [Int]) -> (input: Tensor, targets: Tensor) {
        let (b, height, width, channels) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(permutation.count == b && y.shape[0] == b, "CutMix: batch sizes disagree")
        self.box = box
        self.permutation = permutation
        mixedInput.resize(to: x.shape)
        mixedInput.data.update(from: x.data, count: x.count)
        let image = height * width * channels, rowLength = (box.right - box.left) * channels
        for i in 0..<b where rowLength > 0 {
            for row in box.top..<box.bottom {
                let offset = row * width * channels + box.left * channels
                (mixedInput.data + i * image + offset)
                    .update(from: x.data + permutation[i] * image + offset, count: rowLength)
            }
        }
        // λ' = 1 − pasted area / image area
        labelWeight = 1 - Float(box.area) / Float(height * width)
        mixedTargets.resize(to: y.shape)
        PairMix.combine(y, into: mixedTargets, lambda: labelWeight, permutation: permutation)
        return (mixedInput, mixedTargets)
    }

    public func stage(for randomness: MixingRandomness, encoderStages: Int) -> MixingStage { .input }

    public func forward(_ values: Tensor, targets y: Tensor, context: MixingContext) -> MixedBatch {
        let (x, targets) = forward(values, targets: y, randomness: context.randomness)
        return MixedBatch(values: x, targets: targets)
    }

    /// dxᵢ = dx̃ᵢ outside the box; inside it dx_{π(i)} = dx̃ᵢ (π is a permutation: each image's box
    /// went to exactly one mixed image).
    public func backward(_ gradient: Tensor, addingPooled pooled: UnsafePointer<Float>?) -> Tensor {
        precondition(pooled == nil, "CutMix mixes the input: no pooled gradient reaches it")
        precondition(gradient.shape == mixedInput.shape, "CutMix.backward: dx̃ \(gradient.shape) must be \(mixedInput.shape)")
        let (b, width, channels) = (gradient.shape[0], gradient.shape[2], gradient.shape[3])
        let image = gradient.count / max(b, 1), rowLength = (box.right - box.left) * channels
        inputGradient.resize(to: gradient.shape)
        inputGradient.data.update(from: gradient.data, count: gradient.count)
        for i in 0..<b where rowLength > 0 {
            for row in box.top..<box.bottom {
                let offset = row * width * channels + box.left * channels
                (inputGradient.data + permutation[i] * image + offset).update(from: gradient.data + i * image + offset, count: rowLength)
            }
        }
        return inputGradient
    }
}
