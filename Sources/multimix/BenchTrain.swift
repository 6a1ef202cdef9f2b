import ArgumentParser
import Dispatch
import Foundation
import RunOutputs
import Layers
import Mixing
import Models
import Tensors
import Training

/// `multimix bench train`: whole training steps (forward, loss, backward, SGD) of one model on
/// random inputs, timed per phase and per layer kind.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time training steps of a model on random inputs: images/s, peak memory, time per phase and layer kind.",
        discussion: """
            Each step runs encode → pool → classify → soft-target cross-entropy (one-hot targets), \
            the backward of each, and an SGD step (momentum 0.9, weight decay 5e-4). Steps after \
            --warmup are timed; figures are medians over them (per-layer-kind times are means). \
            Peak memory is the process's VmHWM. Conv GFLOP/s counts 2 FLOPs per multiply-add of the \
            three passes (the stem has no input-gradient pass). oneDNN, the engine's loops and large \
            matrix products share one OpenMP pool of --threads threads; the OpenMP wait policy in \
            effect (multimix chooses passive unless OMP_WAIT_POLICY is set) and the CPU's vector \
            extensions are printed. Under valgrind, set OMP_WAIT_POLICY (multimix otherwise restarts \
            itself with it, outside the tool) or pass --trace-children=yes.
            Example: multimix bench train --model resnet20 --input 1x28x28 --batch 128 --threads 2 --json
            """
    )

    enum Backend: String, ExpressibleByArgument, CaseIterable {
        case onednn, im2col, naive
    }

    @Option(help: "Model: \(ResNetSpecification.names.joined(separator: ", ")).")
    var model = "resnet20"

    @Option(help: "Input shape CxHxW.")
    var input = "3x32x32"

    @Option(help: "Number of classes.")
    var classes = 10

    @Option(help: "Width multiplier of the model's channels.")
    var width = 1.0

    @Option(help: "Batch size.")
    var batch = 128

    @Option(help: "Threads for oneDNN, OpenBLAS and the engine's own loops.")
    var threads = 2


    @Option(help: "Timed steps.")
    var steps = 20

    @Option(help: "Untimed steps first.")
    var warmup = 3

    @Option(help: "Convolution backend: onednn (fast), im2col (OpenBLAS reference twin), naive (tests only).")
    var convBackend: Backend = .onednn

    @Option(help: "What normalises with batch statistics: onednn (oneDNN's primitives, the default in training) or engine (the reference twin).")
    var batchNorm: BatchNormBackend = .oneDNN

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    @Option(help: "Run whole trainer steps with these mixing methods, interleaved, and compare them to the first: e.g. erm,multimix,dense-multimix (\(MixingMethod.allCases.map(\.rawValue).joined(separator: ", "))).")
    var mixer: String?

    @Option(help: "n, the mixed examples per step of multimix and dense-multimix.")
    var n = 1000

    @Option(help: "Train on a real dataset (fashion-mnist, mnist, cifar10, cifar100, or a folder) through the prefetching loader, and report the time steps wait for data; its shape and classes replace --input and --classes.")
    var data: String?

    /// Kernels of `--conv-backend`, one per convolution shape.
    var convolutionFactory: LayerContext.ConvolutionFactory {
        switch convBackend {
        case .onednn: return { ConvolutionBackend.oneDNN.makeKernel($0) }
        case .im2col: return { ConvolutionBackend.im2col.makeKernel($0) }
        case .naive: return { NaiveConvolution(geometry: $0) }
        }
    }

    func validate() throws {
        guard ResNetSpecification.names.contains(model) else {
            throw ValidationError("--model must be one of \(ResNetSpecification.names.joined(separator: ", ")); got '\(model)'.")
        }
        guard let (c, h, w) = BenchConv.parseShape(input), c >= 1, h >= 28, w >= 28 else {
            throw ValidationError("--input must look like 3x32x32 (channels x height x width, height and width ≥ 28); got '\(input)'.")
        }
        guard classes >= 2 else { throw ValidationError("--classes must be at least 2; got \(classes).") }
        guard width > 0 && width <= 64 else { throw ValidationError("--width must be in (0, 64] (as model.width); got \(width).") }
        guard batch >= 2 else { throw ValidationError("--batch must be at least 2 (BatchNorm needs batch statistics); got \(batch).") }
        try BenchLimits.require(threads: threads, batch: batch, shape: (c, h, w))
        try BenchLimits.require(classes, in: 2...100_000, "--classes")
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1; got \(steps).") }
        _ = try mixingMethods()
        try BenchLimits.require(n, in: 1...100_000, "--n", " (as mixing.n)")
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more; got \(warmup).") }
    }

    func run() throws {
        if mixer != nil || data != nil { return try runTrainerSteps() }
        ComputeThreads.set(threads)
        let (channels, height, imageWidth) = BenchConv.parseShape(input)!
        let backend = convBackend
        let net = RunSetup.model(benchConfig(), inputChannels: channels, classCount: classes, makeConvolution: convolutionFactory)
        let context = net.context
        context.batchNormBackend = batchNorm
        let criterion = SoftTargetCrossEntropy(context)
        let sgd = RunSetup.optimizer(benchConfig(), for: net)
        var random = ParameterInitializer(seed: 2)
        let x = Tensor(shape: [batch, height, imageWidth, channels])
        random.fillNormal(x.data, count: x.count, std: 1)
        // One-hot targets for labels i mod K.
        let targets = Tensor(shape: [batch, classes])
        for i in 0..<batch { targets[i * classes + i % classes] = 1 }

        var forward: [Double] = [], backward: [Double] = [], optimizer: [Double] = [], total: [Double] = []
        var losses: [Double] = []
        let timer = LayerTimer()
        for step in 0..<(warmup + steps) {
            if step == warmup { context.timer = timer }
            let t0 = LayerTimer.now()
            let logits = net.classify(net.pool(net.encode(x)))
            losses.append(criterion.forward(logits: logits, targets: targets))
            let t1 = LayerTimer.now()
            net.encodeBackward(net.poolBackward(net.classifyBackward(criterion.backward())))
            let t2 = LayerTimer.now()
            sgd.step(learningRate: 0.01)
            let t3 = LayerTimer.now()
            if step >= warmup {
                forward.append(t1 - t0)
                backward.append(t2 - t1)
                optimizer.append(t3 - t2)
                total.append(t3 - t0)
            }
        }
        let stepSeconds = median(total)
        let imagesPerSecond = Double(batch) / stepSeconds
        // Convolution FLOPs per step: 2 per multiply-add, forward + backward-weights for every
        // convolution, backward-data for all but the stem.
        let convolutions = net.convolutions
        let convFlops = convolutions.enumerated().reduce(0.0) { sum, item in
            let macs = Double(item.element.geometry!.multiplyAdds)
            return sum + 2 * macs * (item.offset == 0 ? 2 : 3)
        }
        let kinds = LayerTimer.Kind.allCases.map { ($0, (timer.seconds[$0] ?? 0) / Double(steps)) }
        let convSeconds = kinds.filter { $0.0.rawValue.hasPrefix("conv") }.reduce(0) { $0 + $1.1 }
        let peak = Self.peakResidentMegabytes()
        let waitPolicy = OpenMPWaitPolicy.inEffect

        if json {
            var fields = [
                #""model":"\#(model)""#, #""input":"\#(input)""#, #""classes":\#(classes)"#, #""width":\#(width)"#,
                #""batch":\#(batch)"#, #""threads":\#(threads)"#, #""conv_backend":"\#(backend.rawValue)""#, #""batch_norm":"\#(batchNorm.rawValue)""#,
                #""steps":\#(steps)"#, #""parameters":\#(net.parameterCount)"#,
                #""images_per_second":\#(format(imagesPerSecond, 2))"#,
                #""step_seconds_median":\#(format(stepSeconds, 5))"#,
                #""step_seconds_min":\#(format(total.min()!, 5))"#,
                #""peak_rss_mb":\#(format(peak, 1))"#,
                #""forward_seconds":\#(format(median(forward), 5))"#,
                #""backward_seconds":\#(format(median(backward), 5))"#,
                #""optimizer_seconds":\#(format(median(optimizer), 5))"#,
                #""conv_gflop_per_step":\#(format(convFlops / 1e9, 3))"#,
                #""conv_gflops":\#(format(convFlops / convSeconds / 1e9, 2))"#,
                #""step_conv_gflops":\#(format(convFlops / stepSeconds / 1e9, 2))"#,
                #""final_loss":\#(format(losses.last!, 4))"#, #""omp_wait_policy":"\#(waitPolicy)""#,
                #""cpu":"\#(CPUDescription.current.model)""#, #""vector_extensions":"\#(CPUDescription.current.vectorExtensions)""#,
            ]
            for (kind, seconds) in kinds {
                fields.append(#""\#(kind.jsonKey)_seconds":\#(format(seconds, 5))"#)
            }
            print("{" + fields.joined(separator: ",") + "}")
            return
        }
        print("\(model) (\(net.parameterCount) parameters), input \(input), \(classes) classes, batch \(batch), "
              + "\(threads) threads, conv backend \(backend.rawValue), batch norm \(batchNorm.rawValue), OMP_WAIT_POLICY \(waitPolicy); "
              + "\(steps) steps after \(warmup) warm-up")
        print("CPU               \(CPUDescription.current)")
        print("images/s          \(format(imagesPerSecond, 1))   (median step \(format(stepSeconds * 1e3, 1)) ms, "
              + "best \(format(total.min()! * 1e3, 1)) ms)")
        print("peak RSS          \(format(peak, 1)) MB")
        print("phases (median ms): forward \(format(median(forward) * 1e3, 1)), backward \(format(median(backward) * 1e3, 1)), "
              + "optimizer \(format(median(optimizer) * 1e3, 1))")
        print("convolutions      \(format(convFlops / 1e9, 2)) GFLOP per step, \(format(convFlops / convSeconds / 1e9, 1)) GFLOP/s "
              + "in convolution time, \(format(convFlops / stepSeconds / 1e9, 1)) GFLOP/s over the step")
        print("per layer kind (mean ms per step):")
        for (kind, seconds) in kinds where seconds > 0 {
            print("  " + kind.rawValue.padding(toLength: 30, withPad: " ", startingAt: 0)
                  + format(seconds * 1e3, 2).leftPadded(9) + "  " + format(100 * seconds / stepSeconds, 1).leftPadded(5) + "%")
        }
        print("loss: first \(format(losses.first!, 4)), last \(format(losses.last!, 4))")
    }

    /// The process's peak resident set (VmHWM in /proc/self/status), in MB; 0 where unavailable.
    static func peakResidentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes / 1024
    }

    func format(_ x: Double, _ digits: Int) -> String {
        x.isFinite ? String(format: "%.\(digits)f", x) : "null"
    }
}

private extension LayerTimer.Kind {
    /// snake_case JSON key: "conv backward data" → conv_backward_data.
    var jsonKey: String {
        String(describing: self).reduce(into: "") { key, ch in
            if ch.isUppercase { key += "_" + ch.lowercased() } else { key.append(ch) }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

extension BatchNormBackend: ExpressibleByArgument {}
