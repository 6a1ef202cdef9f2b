import Layers
import Tensors
import XCTest

final class SGDTests: XCTestCase {
    /// One weight w = 1 (grad 0.5) and one norm parameter v = 2 (grad 0.25); η = 0.1, μ = 0.9, λ = 0.01.
    func makeArena() -> (ParameterArena, ParameterArena.Slice, ParameterArena.Slice, ParameterArena.Slice) {
        let arena = ParameterArena()
        let w = arena.register("w", shape: [1], role: .weight, initial: 1)
        let stats = arena.register("running_mean", shape: [1], role: .buffer, initial: 7)
        let v = arena.register("bn.weight", shape: [1], role: .normOrBias, initial: 2)
        arena.finalize()
        return (arena, w, v, stats)
    }

    func setGradients(_ arena: ParameterArena, _ w: ParameterArena.Slice, _ v: ParameterArena.Slice) {
        arena.gradient(w).pointee = 0.5
        arena.gradient(v).pointee = 0.25
    }

    func testMomentumAndWeightDecayByHand() {
        let (arena, w, v, stats) = makeArena()
        let sgd = SGD(arena: arena, configuration: .init(momentum: 0.9, weightDecay: 0.01, decayNormAndBias: false))
        setGradients(arena, w, v)
        sgd.step(learningRate: 0.1)
        // w: g = 0.5 + 0.01·1 = 0.51, b = g, w = 1 − 0.051;  v: g = 0.25 (no decay), v = 2 − 0.025
        XCTAssertEqual(arena.value(w).pointee, 0.949, accuracy: 1e-6)
        XCTAssertEqual(arena.value(v).pointee, 1.975, accuracy: 1e-6)
        setGradients(arena, w, v)
        sgd.step(learningRate: 0.1)
        // w: g = 0.5 + 0.00949, b = 0.9·0.51 + 0.50949 = 0.96849, w = 0.949 − 0.096849
        XCTAssertEqual(arena.value(w).pointee, 0.949 - 0.096849, accuracy: 1e-6)
        // v: b = 0.9·0.25 + 0.25 = 0.475, v = 1.975 − 0.0475
        XCTAssertEqual(arena.value(v).pointee, 1.975 - 0.0475, accuracy: 1e-6)
        XCTAssertEqual(arena.value(stats).pointee, 7, "buffers are not trained")
    }

    func testNesterovByHand() {
        let (arena, w, v, _) = makeArena()
        let sgd = SGD(arena: arena, configuration: .init(momentum: 0.9, nesterov: true, weightDecay: 0.01))
        setGradients(arena, w, v)
        sgd.step(learningRate: 0.1)
        // w: g = 0.51, b = 0.51, d = g + 0.9·b = 0.969, w = 1 − 0.0969
        XCTAssertEqual(arena.value(w).pointee, 1 - 0.0969, accuracy: 1e-6)
        // v decays too: g = 0.25 + 0.02 = 0.27, d = 0.27·1.9 = 0.513, v = 2 − 0.0513
        XCTAssertEqual(arena.value(v).pointee, 2 - 0.0513, accuracy: 1e-6)
    }

    /// Every case (plain, momentum, dampening, Nesterov; first and later steps; decay on and off for
    /// norms) over an arena of several tensors large enough to be split over two threads, with chunk
    /// borders inside tensors: equal, bit for bit, to the equations applied one element at a time.
    func testEveryCaseMatchesTheEquationsAcrossChunksAndTensors() {
        let cases: [SGD.Configuration] = [
            .init(momentum: 0, weightDecay: 0.01),
            .init(momentum: 0.9, weightDecay: 5e-4, decayNormAndBias: false),
            .init(momentum: 0.8, dampening: 0.3, weightDecay: 1e-3),
            .init(momentum: 0.9, nesterov: true, weightDecay: 5e-4, decayNormAndBias: false),
        ]
        let previous = ComputeThreads.count
        ComputeThreads.set(2)
        defer { ComputeThreads.set(previous) }
        for configuration in cases {
            let arena = ParameterArena()
            let shapes: [(String, Int, ParameterArena.Role)] = [
                ("conv.weight", 40_000, .weight), ("bn.weight", 7, .normOrBias), ("bn.running_mean", 7, .buffer),
                ("bn.bias", 7, .normOrBias), ("fc.weight", 30_001, .weight), ("fc.bias", 10, .normOrBias),
            ]
            for (name, count, role) in shapes { _ = arena.register(name, shape: [count], role: role, initial: 0) }
            arena.finalize()
            XCTAssertGreaterThan(Parallel.chunkCount(arena.trainableCount, minimumChunk: 1 << 15), 1, "not split")
            var random = SystemRandomNumberGenerator()
            let n = arena.trainableCount
            for i in 0..<n { arena.values[i] = Float.random(in: -1...1, using: &random) }
            var theta = Array(UnsafeBufferPointer(start: arena.values, count: n))
            var momentum = [Float](repeating: 0, count: n)
            let sgd = SGD(arena: arena, configuration: configuration)
            let c = configuration
            for step in 0..<3 {
                let eta = Float(0.1) / Float(step + 1)
                let grads = (0..<n).map { _ in Float.random(in: -1...1, using: &random) }
                for i in 0..<n { arena.gradients[i] = grads[i] }
                sgd.step(learningRate: eta)
                // The equations, one element at a time.
                for entry in arena.entries where entry.role != .buffer {
                    let lambda = entry.role == .weight || c.decayNormAndBias ? c.weightDecay : 0
                    for i in entry.offset..<(entry.offset + entry.count) {
                        var g = grads[i] + lambda * theta[i]
                        if c.momentum != 0 {
                            momentum[i] = step == 0 ? g : c.momentum * momentum[i] + (1 - c.dampening) * g
                            g = c.nesterov ? g + c.momentum * momentum[i] : momentum[i]
                        }
                        theta[i] -= eta * g
                    }
                }
                let mismatches = (0..<n).filter { arena.values[$0] != theta[$0] }.count
                XCTAssertEqual(mismatches, 0, "\(c), step \(step + 1): \(mismatches) parameters differ")
                if c.momentum != 0 {
                    let bufferMismatches = (0..<n).filter { sgd.momentumBuffer[$0] != momentum[$0] }.count
                    XCTAssertEqual(bufferMismatches, 0, "\(c), step \(step + 1): momentum buffer differs")
                }
            }
        }
    }
}

final class LearningRateScheduleTests: XCTestCase {
    func testMultistepWithWarmup() {
        let s = LearningRateSchedule(baseRate: 0.1, decay: .multistep(milestones: [500, 1000, 1500], gamma: 0.1),
                                     warmupEpochs: 5, warmupStartFactor: 0, totalEpochs: 2000)
        XCTAssertEqual(s.rate(atEpoch: 0), 0, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atEpoch: 2.5), 0.05, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atEpoch: 5), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atEpoch: 499.9), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atEpoch: 500), 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atEpoch: 1999), 1e-4, accuracy: 1e-12)
    }

    func testCosine() {
        let s = LearningRateSchedule(baseRate: 0.1, decay: .cosine(minimum: 0), warmupEpochs: 10, totalEpochs: 110)
        XCTAssertEqual(s.rate(atEpoch: 10), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atEpoch: 60), 0.05, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atEpoch: 110), 0, accuracy: 1e-12)
        XCTAssertEqual(s.rate(atEpoch: 0), 0.001, accuracy: 1e-12)
    }
}
