import Tensors

/// SGD with momentum, Nesterov momentum and weight decay, as PyTorch's `torch.optim.SGD`, as one
/// pass over the parameter arena (trainables only; running statistics are never touched).
///
///     g ← ∇θ + λ·θ                 (λ = 0 for BatchNorm and bias tensors when `decayNormAndBias` is off)
///     b ← μ·b + (1 − τ)·g          (first step: b ← g)
///     d ← g + μ·b  (Nesterov)  or  b
///     θ ← θ − η·d
public final class SGD {
    public struct Configuration: Sendable, Equatable {
        /// μ
        public var momentum: Float
        /// τ
        public var dampening: Float
        public var nesterov: Bool
        /// λ
        public var weightDecay: Float
        /// Whether BatchNorm weights/biases and layer biases decay too (PyTorch's default: yes).
        public var decayNormAndBias: Bool

        public init(momentum: Float = 0.9, dampening: Float = 0, nesterov: Bool = false, weightDecay: Float = 0,
                    decayNormAndBias: Bool = true) {
            self.momentum = momentum
            self.dampening = dampening
            self.nesterov = nesterov
            self.weightDecay = weightDecay
            self.decayNormAndBias = decayNormAndBias
        }
    }

    public let arena: ParameterArena
    public var configuration: Configuration
    /// b: [trainableCount], laid out as the arena's gradients (checkpointed as is).
    public let momentumBuffer: UnsafeMutablePointer<Float>
    /// Steps taken; the first step initialises b (checkpointed with b).
    public var stepCount = 0

    public init(arena: ParameterArena, configuration: Configuration) {
        precondition(arena.isFinalized, "SGD: the arena must be finalized first")
        self.arena = arena
        self.configuration = configuration
        momentumBuffer = .allocate(capacity: max(arena.trainableCount, 1))
        momentumBuffer.initialize(repeating: 0, count: max(arena.trainableCount, 1))
    }

    deinit { momentumBuffer.deallocate() }

    /// One update with learning rate η, from the gradients in the arena.
    public func step(learningRate eta: Float) {
        let c = configuration, first = stepCount == 0
        let theta = arena.values!, grad = arena.gradients!, b = momentumBuffer
        for entry in arena.entries where entry.role != .buffer {
            let lambda = entry.role == .weight || c.decayNormAndBias ? c.weightDecay : 0
            let base = entry.offset
            Parallel.forEachChunk(entry.count, minimumChunk: 1 << 15) { _, range in
                for i in (base + range.lowerBound)..<(base + range.upperBound) {
                    // g = ∇θ + λ·θ
                    var g = grad[i] + lambda * theta[i]
                    if c.momentum != 0 {
                        // b = μ·b + (1 − τ)·g   (b = g on the first step)
                        b[i] = first ? g : c.momentum * b[i] + (1 - c.dampening) * g
                        // d = g + μ·b (Nesterov) or b
                        g = c.nesterov ? g + c.momentum * b[i] : b[i]
                    }
                    // θ = θ − η·d
                    theta[i] -= eta * g
                }
            }
        }
        stepCount += 1
    }
}
