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
        // λ per trainable tensor; the trainables fill 0..<trainableCount, so one parallel pass covers
        // them all (one OpenMP region per step, not one per tensor).
        let decays = arena.entries.filter { $0.role != .buffer }.map { entry in
            (range: entry.offset..<(entry.offset + entry.count),
             lambda: entry.role == .weight || c.decayNormAndBias ? c.weightDecay : 0)
        }
        Parallel.forEachChunk(arena.trainableCount, minimumChunk: 1 << 15) { _, chunk in
            for decay in decays where decay.range.overlaps(chunk) {
                let part = decay.range.clamped(to: chunk)
                Self.update(theta + part.lowerBound, grad + part.lowerBound, b + part.lowerBound, count: part.count,
                            lambda: decay.lambda, eta: eta, configuration: c, first: first)
            }
        }
        stepCount += 1
    }

    /// The update of `count` parameters, one loop per case so that each inner loop is branch-free
    /// (and vectorised).
    private static func update(_ theta: UnsafeMutablePointer<Float>, _ grad: UnsafeMutablePointer<Float>,
                               _ b: UnsafeMutablePointer<Float>, count: Int, lambda: Float, eta: Float,
                               configuration c: Configuration, first: Bool) {
        let mu = c.momentum, keep = 1 - c.dampening
        switch (mu != 0, first, c.nesterov) {
        case (false, _, _):
            for i in 0..<count {
                let g = grad[i] + lambda * theta[i]        // g = ∇θ + λ·θ
                theta[i] -= eta * g                         // θ = θ − η·g
            }
        case (true, true, false):
            for i in 0..<count {
                let g = grad[i] + lambda * theta[i]
                b[i] = g                                    // b = g (first step)
                theta[i] -= eta * g                         // θ = θ − η·b
            }
        case (true, true, true):
            for i in 0..<count {
                let g = grad[i] + lambda * theta[i]
                b[i] = g
                theta[i] -= eta * (g + mu * g)              // d = g + μ·b
            }
        case (true, false, false):
            for i in 0..<count {
                let g = grad[i] + lambda * theta[i]
                let v = mu * b[i] + keep * g                // b = μ·b + (1 − τ)·g
                b[i] = v
                theta[i] -= eta * v                         // θ = θ − η·b
            }
        case (true, false, true):
            for i in 0..<count {
                let g = grad[i] + lambda * theta[i]
                let v = mu * b[i] + keep * g
                b[i] = v
                theta[i] -= eta * (g + mu * v)              // d = g + μ·b
            }
        }
    }
}
