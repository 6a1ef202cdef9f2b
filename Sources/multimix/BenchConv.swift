import ArgumentParser
import Dispatch
import Foundation
import RunOutputs
import Models
import Tensors

/// `multimix bench conv`: the three passes of ResNet-20's 19 convolutions on both convolution backends,
/// interleaved in one run, against OpenBLAS's own sgemm at 1024³ measured in the same run.
struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Time both convolution backends on ResNet-20's convolutions against OpenBLAS sgemm.",
        discussion: """
            For each input shape, ResNet-20's 19 convolutions (a 3×3 stem to 16 channels, then three \
            stages of six 3×3 convolutions at 16, 32 and 64 channels, the first of stages 2 and 3 with \
            stride 2) reduce to 6 distinct shapes; each is timed once per pass and backend and counted \
            as often as it occurs. Each repetition runs every pass on both backends, alternating which \
            goes first; figures are medians over repetitions. GFLOP/s counts 2 FLOPs per multiply-add. \
            The oneDNN passes include their weight reorders (OIHW to the primitive's layout, or back), \
            which are also timed alone.
            On a machine shared with other work, wall-clock figures swing by 2x or more between runs; \
            --threads 1 --clock thread-cpu gives repeatable single-thread figures.
            Example: multimix bench conv --threads 2
            """
    )

    @Option(name: .customLong("input"), help: "Input shape CxHxW (repeatable).")
    var inputs: [String] = ["1x28x28", "3x32x32"]

    @Option(help: "Batch size.")
    var batch = 128

    @Option(help: "Threads for oneDNN (OpenMP) and OpenBLAS.")
    var threads = 2

    @Option(help: "Timed repetitions per pass.")
    var repetitions = 15

    @Option(help: "Untimed repetitions per pass before timing.")
    var warmup = 3

    @Option(help: """
        What to time with: wall (elapsed time) or thread-cpu (the calling thread's CPU time: unaffected by \
        other processes on a shared machine; valid only with --threads 1).
        """)
    var clock: Clock = .wall

    @Flag(help: "Print one JSON object per input shape instead of tables.")
    var json = false

    enum Clock: String, ExpressibleByArgument, CaseIterable {
        case wall
        case threadCPU = "thread-cpu"
    }

    func validate() throws {
        for input in inputs where Self.parseShape(input) == nil {
            throw ValidationError("--input must look like 3x32x32 (channels x height x width, each ≥ 1); got '\(input)'.")
        }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1; got \(batch).") }
        for input in inputs { try BenchLimits.require(threads: threads, batch: batch, shape: Self.parseShape(input)!) }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1; got \(repetitions).") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more; got \(warmup).") }
        if clock == .threadCPU && threads != 1 {
            throw ValidationError("--clock thread-cpu counts only the calling thread's work: use it with --threads 1 (got \(threads)).")
        }
    }

    func run() throws {
        ComputeThreads.set(threads)
        let sgemm = measureSgemm(size: 1024)
        if !json {
            print("clock: \(clock.rawValue); OpenBLAS sgemm 1024^3, \(threads) threads: \(format(sgemm, 1)) GFLOP/s (median of \(repetitions)); "
                  + "OMP_WAIT_POLICY \(OpenMPWaitPolicy.inEffect); CPU \(CPUDescription.current)")
        }
        for input in inputs {
            let (channels, height, width) = Self.parseShape(input)!
            let layers = Self.resnet20Convolutions(batch: batch, channels: channels, height: height, width: width)
            let rows = layers.map { measure($0.geometry, count: $0.count) }
            report(input: input, rows: rows, sgemm: sgemm)
        }
    }

    // MARK: - Shapes

    /// CxHxW → (C, H, W), or nil if malformed.
    static func parseShape(_ text: String) -> (Int, Int, Int)? {
        let parts = text.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 >= 1 }) else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    /// ResNet-20's convolutions (as `Models` builds it) as (distinct shape, occurrences), runs of the
    /// same shape in forward order taken together: the stem, then per stage a first convolution
    /// (stride 2 from stage 2 on) and five more at the stage's width. 1 + 3·6 = 19.
    static func resnet20Convolutions(batch: Int, channels: Int, height: Int, width: Int)
        -> [(geometry: ConvolutionGeometry, count: Int)] {
        let model = ResNet(name: .resnet20, inputChannels: channels, classCount: 10)
        var layers: [(geometry: ConvolutionGeometry, count: Int)] = []
        for geometry in model.convolutionGeometries(batch: batch, height: height, width: width) {
            if layers.last?.geometry == geometry { layers[layers.count - 1].count += 1 } else { layers.append((geometry, 1)) }
        }
        return layers
    }

    // MARK: - Timing

    enum Pass: String, CaseIterable { case forward, backwardData = "backward-data", backwardWeights = "backward-weights" }

    struct Row {
        var geometry: ConvolutionGeometry
        var count: Int
        /// Median seconds per pass: [backend][pass].
        var seconds: [ConvolutionBackend: [Pass: Double]]
        /// Fastest repetition per pass: the least disturbed by other processes on a shared machine.
        var bestSeconds: [ConvolutionBackend: [Pass: Double]]
        /// oneDNN's three weight reorders of one step (forward, backward data, weight gradient) alone,
        /// median seconds.
        var reorderSeconds: Double
        var layouts: (forward: String, backwardData: String, backwardWeights: String)
        /// Scratch memory each kernel holds: [backend] bytes.
        var scratchBytes: [ConvolutionBackend: Int]
        /// Seconds to create the oneDNN kernel: the first of its shape (primitives generated) and a
        /// second (oneDNN's primitive cache hit), as for the later layers of the same shape.
        var creationSeconds: (first: Double, cached: Double)
    }

    private func measure(_ g: ConvolutionGeometry, count: Int) -> Row {
        let x = filled(g.inputCount, seed: 1), w = filled(g.weightCount, seed: 2), dy = filled(g.outputCount, seed: 3)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: g.outputCount)
        let dx = UnsafeMutablePointer<Float>.allocate(capacity: g.inputCount)
        let dw = UnsafeMutablePointer<Float>.allocate(capacity: g.weightCount)
        defer { for buffer in [x, w, dy, y, dx, dw] { buffer.deallocate() } }

        var oneDNN: OneDNNConvolution!
        let firstCreation = timed { oneDNN = OneDNNConvolution(g) }
        let cachedCreation = timed { oneDNN = OneDNNConvolution(g) }
        let im2col = Im2colConvolution(g)
        let kernels: [ConvolutionBackend: ConvolutionKernel] = [.oneDNN: oneDNN, .im2col: im2col]
        func run(_ kernel: ConvolutionKernel, _ pass: Pass) {
            switch pass {
            case .forward: kernel.forward(input: x, weight: w, bias: nil, output: y)
            case .backwardData: kernel.backwardData(outputGradient: dy, weight: w, inputGradient: dx)
            case .backwardWeights:
                kernel.backwardWeights(input: x, outputGradient: dy, weightGradient: dw, biasGradient: nil)
            }
        }
        var times: [ConvolutionBackend: [Pass: [Double]]] = [:]
        for repetition in 0..<(warmup + repetitions) {
            let order = repetition % 2 == 0 ? ConvolutionBackend.allCases : ConvolutionBackend.allCases.reversed()
            for backend in order {
                for pass in Pass.allCases {
                    let seconds = timed { run(kernels[backend]!, pass) }
                    if repetition >= warmup { times[backend, default: [:]][pass, default: []].append(seconds) }
                }
            }
        }
        // The three weight reorders of one step alone, as the passes above run them.
        var reorders: [Double] = []
        for repetition in 0..<(warmup + repetitions) {
            let seconds = timed {
                oneDNN.reorderForwardWeights(w)
                oneDNN.reorderBackwardDataWeights(w)
                oneDNN.reorderWeightGradient(into: dw)
            }
            if repetition >= warmup { reorders.append(seconds) }
        }
        return Row(geometry: g, count: count, seconds: times.mapValues { $0.mapValues(median) },
                   bestSeconds: times.mapValues { $0.mapValues { $0.min()! } },
                   reorderSeconds: median(reorders),
                   layouts: oneDNN.weightLayouts,
                   scratchBytes: [.oneDNN: oneDNN.scratchpadBytes, .im2col: im2col.scratchBytes],
                   creationSeconds: (firstCreation, cachedCreation))
    }

    /// Median GFLOP/s of C = A·B at size³ through the BLAS facade.
    private func measureSgemm(size n: Int) -> Double {
        let a = filled(n * n, seed: 4), b = filled(n * n, seed: 5), c = filled(n * n, seed: 6)
        defer { for buffer in [a, b, c] { buffer.deallocate() } }
        var times: [Double] = []
        for repetition in 0..<(warmup + repetitions) {
            let seconds = timed { BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c, ldc: n) }
            if repetition >= warmup { times.append(seconds) }
        }
        return 2 * Double(n * n * n) / median(times) / 1e9
    }

    /// Seconds `body` took on `clock`. With one thread, OpenBLAS and oneDNN (OpenMP) both run on the
    /// calling thread, so its CPU time is all the work, and excludes time spent descheduled.
    private func timed(_ body: () -> Void) -> Double {
        switch clock {
        case .wall:
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        case .threadCPU:
            var start = timespec(), end = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
            body()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
            return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
        }
    }

    /// A buffer of `count` values in [-1, 1) (an LCG: the benchmark needs no particular distribution,
    /// only no denormals and no NaNs).
    private func filled(_ count: Int, seed: UInt64) -> UnsafeMutablePointer<Float> {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        for i in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            buffer[i] = Float(state >> 40) * 0x1p-23 - 1
        }
        return buffer
    }

    // MARK: - Report

    private func report(input: String, rows: [Row], sgemm: Double) {
        let backends = ConvolutionBackend.allCases
        // Network totals: Σ count · median (and Σ count · best), per backend and pass.
        var total: [ConvolutionBackend: [Pass: Double]] = [:], bestTotal = total
        for row in rows {
            for backend in backends {
                for pass in Pass.allCases {
                    total[backend, default: [:]][pass, default: 0] += Double(row.count) * row.seconds[backend]![pass]!
                    bestTotal[backend, default: [:]][pass, default: 0] += Double(row.count) * row.bestSeconds[backend]![pass]!
                }
            }
        }
        let flopsPerPass = rows.reduce(0.0) { $0 + 2 * Double($1.count * $1.geometry.multiplyAdds) }
        let reorderTotal = rows.reduce(0.0) { $0 + Double($1.count) * $1.reorderSeconds }
        func gflops(_ seconds: Double, passes: Double = 1) -> Double { passes * flopsPerPass / seconds / 1e9 }
        func stepSeconds(_ backend: ConvolutionBackend) -> Double { total[backend]!.values.reduce(0, +) }
        func bestStepSeconds(_ backend: ConvolutionBackend) -> Double { bestTotal[backend]!.values.reduce(0, +) }

        if json {
            var fields = [#""input":"\#(input)""#, #""batch":\#(batch)"#, #""threads":\#(threads)"#,
                          #""clock":"\#(clock.rawValue)""#,
                          #""sgemm_1024_gflops":\#(format(sgemm, 2))"#,
                          #""onednn_weight_reorders_ms":\#(format(reorderTotal * 1e3, 3))"#]
            for backend in backends {
                for pass in Pass.allCases {
                    fields.append(#""\#(backend.rawValue)_\#(pass.rawValue.replacingOccurrences(of: "-", with: "_"))_ms":\#(format(total[backend]![pass]! * 1e3, 3))"#)
                }
                fields.append(#""\#(backend.rawValue)_total_ms":\#(format(stepSeconds(backend) * 1e3, 3))"#)
                fields.append(#""\#(backend.rawValue)_gflops":\#(format(gflops(stepSeconds(backend), passes: 3), 2))"#)
                fields.append(#""\#(backend.rawValue)_best_total_ms":\#(format(bestStepSeconds(backend) * 1e3, 3))"#)
            }
            print("{" + fields.joined(separator: ",") + "}")
            return
        }

        print("\nResNet-20's 19 convolutions, input \(input), batch \(batch), \(threads) threads; medians of \(repetitions) (ms per call)")
        print(pad("shape", 44) + pad("n", 3) + Pass.allCases.map { pass in
            backends.map { pad("\($0.rawValue) \(short(pass))", 12) }.joined()
        }.joined() + "  onednn weight layouts (fwd / bwd-data / bwd-weights)")
        for row in rows {
            var line = pad(row.geometry.description, 44) + pad("\(row.count)", 3)
            for pass in Pass.allCases {
                for backend in backends { line += pad(format(row.seconds[backend]![pass]! * 1e3, 3), 12) }
            }
            line += "  \(row.layouts.forward) / \(row.layouts.backwardData) / \(row.layouts.backwardWeights)"
            print(line)
        }
        print("\nwhole network (Σ count × median), \(format(flopsPerPass / 1e9, 2)) GFLOP per pass:")
        print(pad("backend", 10) + Pass.allCases.map { pad("\($0.rawValue) ms", 22) }.joined()
              + pad("total ms", 10) + pad("GFLOP/s", 9) + "vs sgemm")
        for (label, totals) in [("", total), (" best", bestTotal)] {
            for backend in backends {
                var line = pad(backend.rawValue + label, 10)
                for pass in Pass.allCases {
                    let seconds = totals[backend]![pass]!
                    line += pad("\(format(seconds * 1e3, 2)) (\(format(gflops(seconds), 1)) GF/s)", 22)
                }
                let step = totals[backend]!.values.reduce(0, +)
                line += pad(format(step * 1e3, 2), 10) + pad(format(gflops(step, passes: 3), 1), 9)
                    + format(gflops(step, passes: 3) / sgemm, 2) + "x"
                print(line)
            }
        }
        let scratch = backends.map { backend in
            "\(backend.rawValue) \(format(Double(rows.reduce(0) { $0 + $1.count * $1.scratchBytes[backend]! }) / 1e6, 1)) MB"
        }
        print("scratch held by the 19 kernels (one per layer): " + scratch.joined(separator: ", "))
        let creation = rows.reduce(0.0) { $0 + $1.creationSeconds.first + Double($1.count - 1) * $1.creationSeconds.cached }
        print("creating the 19 oneDNN kernels: \(format(creation * 1e3, 1)) ms (first of each shape: "
              + rows.map { format($0.creationSeconds.first * 1e3, 1) }.joined(separator: ", ") + " ms; later ones from "
              + "oneDNN's primitive cache: " + rows.map { format($0.creationSeconds.cached * 1e3, 2) }.joined(separator: ", ") + " ms)")
        print("onednn/im2col time ratio: \(format(stepSeconds(.oneDNN) / stepSeconds(.im2col), 3)) (best: "
              + "\(format(bestStepSeconds(.oneDNN) / bestStepSeconds(.im2col), 3))); "
              + "oneDNN weight reorders alone: \(format(reorderTotal * 1e3, 3)) ms of its \(format(stepSeconds(.oneDNN) * 1e3, 2)) ms")
    }

    private func short(_ pass: Pass) -> String {
        switch pass {
        case .forward: "fwd"
        case .backwardData: "bwd-d"
        case .backwardWeights: "bwd-w"
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private func format(_ x: Double, _ digits: Int) -> String {
        x.isFinite ? String(format: "%.\(digits)f", x) : "null"
    }
}
