import ArgumentParser
import Datasets
import Foundation
import Layers
import Mixing
import Models
import RunConfig
import Tensors
import Training

/// `multimix bench train --mixer …` and `--data …`: whole trainer steps (the trainer's own
/// `TrainingStep`: forward, mixing, loss, backward, then SGD), several mixing methods interleaved step
/// by step in one process so that their ratio is measured under the same conditions, optionally fed
/// by the prefetching loader from a real dataset (reporting the share of time spent waiting for it).
extension BenchTrain {
    /// The methods of `--mixer`, in order (default: ERM).
    func mixingMethods() throws -> [MixingMethod] {
        guard let mixer else { return [.erm] }
        return try mixer.split(separator: ",", omittingEmptySubsequences: false).map { name in
            guard let method = MixingMethod(rawValue: String(name)) else {
                throw ValidationError("--mixer: unknown method '\(name)'; use \(MixingMethod.allCases.map(\.rawValue).joined(separator: ", ")), separated by commas.")
            }
            return method
        }
    }

    /// The config a bench step trains: `--model`, `--width`, `--n` and the bench's seed 1 and SGD
    /// (momentum 0.9, weight decay 5e-4); everything else a config's default (MultiMix's α ~ U[0.5, 2]).
    func benchConfig() -> TrainingConfig {
        var config = TrainingConfig()
        config.seed = 1
        config.model.name = ResNetSpecification.Name(rawValue: model)!
        config.model.width = width
        config.optimizer.momentum = 0.9
        config.optimizer.weightDecay = 5e-4
        config.mixing.n = n
        return config
    }

    func runTrainerSteps() throws {
        ComputeThreads.set(threads)
        let methods = try mixingMethods()

        // Inputs: a real dataset through the loader, or one random batch.
        var loader: PrefetchingLoader? = nil
        let shape: ImageShape
        var classCount = classes
        if let data {
            let source = try DatasetSource.resolve(data)
            let pipeline = try DataPipeline(source: source)
            guard let train = pipeline.train else { throw ValidationError("--data: \(source.root) has no training split") }
            loader = pipeline.trainingLoader(rank: 0, worldSize: 1, seed: 1, batchSize: batch)
            shape = train.shape
            classCount = train.classCount
        } else {
            let (c, h, w) = BenchConv.parseShape(input)!
            shape = ImageShape(height: h, width: w, channels: c)
        }
        // One model and optimizer, a step per method, built as a run builds them (RunSetup).
        let config = benchConfig()
        let model = RunSetup.model(config, inputChannels: shape.channels, classCount: classCount, makeConvolution: convolutionFactory)
        let sgd = RunSetup.optimizer(config, for: model)
        let steppers = methods.map { method in
            var mixing = config
            mixing.mixing.method = method
            return RunSetup.step(mixing, for: model)
        }
        var random = ParameterInitializer(seed: 2)
        let images = [Float](unsafeUninitializedCapacity: batch * shape.height * shape.width * shape.channels) { buffer, count in
            random.fillNormal(buffer.baseAddress!, count: buffer.count, std: 1)
            count = buffer.count
        }
        let labels = (0..<batch).map { Int32($0 % classCount) }

        var times = [[Double]](repeating: [], count: methods.count)
        var waited = 0.0, stepped = 0.0
        for round in 0..<(warmup + steps) {
            for (index, stepper) in steppers.enumerated() {
                let batchData = loader?.next()
                let start = LayerTimer.now()
                let randomness = MixingRandomness(seed: 1, epoch: 0, step: round, rank: 0)
                let imageShape = (shape.height, shape.width, shape.channels)
                if let batchData {
                    _ = stepper.run(images: batchData.images, labels: batchData.labels, count: batchData.count,
                                    imageShape: imageShape, randomness: randomness)
                } else {
                    images.withUnsafeBufferPointer { x in
                        labels.withUnsafeBufferPointer { y in
                            _ = stepper.run(images: x, labels: y, count: batch, imageShape: imageShape, randomness: randomness)
                        }
                    }
                }
                sgd.step(learningRate: 0.01)
                let seconds = LayerTimer.now() - start
                if round >= warmup {
                    times[index].append(seconds)
                    stepped += seconds
                    waited += loader?.lastWaitSeconds ?? 0
                }
            }
        }
        loader?.stop()

        let medians = times.map(median)
        let waitFraction = loader == nil ? 0 : waited / (waited + stepped)
        let peak = Self.peakResidentMegabytes()
        if json {
            let entries = methods.indices.map { i in
                #"{"mixer":"\#(methods[i].rawValue)","step_seconds_median":\#(format(medians[i], 5)),"images_per_second":\#(format(Double(batch) / medians[i], 2)),"ratio_to_first":\#(format(medians[i] / medians[0], 4))}"#
            }
            print("{" + [
                #""model":"\#(model.name)""#, #""input":"\#(shape.height)x\#(shape.width)x\#(shape.channels)""#,
                #""batch":\#(batch)"#, #""threads":\#(threads)"#, #""n":\#(n)"#, #""steps":\#(steps)"#,
                #""data":\#(data.map { "\"\($0)\"" } ?? "null")"#,
                #""images_per_second":\#(format(Double(batch) / medians[0], 2))"#,
                #""step_seconds_median":\#(format(medians[0], 5))"#,
                #""peak_rss_mb":\#(format(peak, 1))"#,
                #""data_wait_fraction":\#(format(waitFraction, 5))"#,
                #""mixers":[\#(entries.joined(separator: ","))]"#,
            ].joined(separator: ",") + "}")
            return
        }
        print("\(model.name), input \(shape.channels)x\(shape.height)x\(shape.width), batch \(batch), \(threads) threads, "
              + "n = \(n); \(steps) interleaved steps per method after \(warmup) warm-up"
              + (data.map { ", data: \($0)" } ?? ", random inputs"))
        print("method            median ms   images/s   vs \(methods[0].rawValue)")
        for i in methods.indices {
            print(methods[i].rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
                  + format(medians[i] * 1e3, 1).leftPadded(11) + format(Double(batch) / medians[i], 1).leftPadded(11)
                  + format(medians[i] / medians[0], 3).leftPadded(9))
        }
        if loader != nil { print("data wait         \(format(100 * waitFraction, 2))% of step time") }
        print("peak RSS          \(format(peak, 1)) MB")
    }
}
