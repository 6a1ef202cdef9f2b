import Datasets
import Distributed
import Foundation
import RunOutputs
import Evaluation
import Checkpointing
import RunConfig
import Layers
import Mixing
import Models
import SwiftMPI
import Tensors

/// Where a run resumes from.
public enum ResumePolicy: Equatable, Sendable {
    /// The newest good checkpoint of the run folder, if any (damaged newer ones are refused by name).
    case auto
    /// Start fresh; refused if the run folder already holds checkpoints (nothing is overwritten).
    case never
    /// This checkpoint folder (refused if it fails its checksums).
    case path(String)
}

/// How a run ended without an error.
public enum TrainingOutcome: Equatable {
    /// Every epoch ran (or `maxSteps` was reached); the final checkpoint is in the folder.
    case completed(checkpoint: URL?)
    /// A SIGTERM or SIGUSR1 arrived: a checkpoint was written at the next step boundary.
    case preempted(signal: Int32, checkpoint: URL?)
}

/// The data-parallel training loop of ../shared/DESIGN.md, run by every rank:
///
///     rank 0 broadcasts the parameters (or the checkpoint it resumes from)
///     per step:  batch → forward, mixing over the local mini-batch, backward
///                gradients all-reduced in buckets during backward → averaged → SGD (same on all ranks)
///                one small all-reduce: mean loss, any non-finite value, any stop signal
///     every check_every_steps: parameter checksums compared across ranks
///     per epoch: evaluation (test set split over ranks, counts reduced) and rank-0 checkpoint,
///                after averaging BatchNorm's running statistics across ranks
public final class Trainer {
    public let config: TrainingConfig
    public let communicator: Communicator
    /// How the ranks decide together (rank 0 decides, all decide, same settings).
    let consensus: Consensus
    public let runDirectory: URL
    public let model: ResNet
    let data: any TrainingData
    let outOfDistributionSets: [Evaluator.OutOfDistributionSet]
    let optimizer: SGD
    let schedule: LearningRateSchedule
    let step: TrainingStep
    let synchroniser: GradientSynchroniser
    let checkpoints: CheckpointStore?
    let progress: ProgressReporter
    var log: MetricsLog?
    /// The TensorBoard event files beside the metrics log (rank 0).
    var tensorBoard: TensorBoardLog?
    let maxSteps: Int?
    /// What a resume does when the config changes the run the checkpoint saved.
    let configChange: ConfigChange
    var synchronisationError: Error?

    /// Position of the next step.
    var epoch = 0, stepInEpoch = 0, globalStep = 0
    /// Examples per rank and step: `training.batch_size`, unless a resume on another number of ranks
    /// kept the global batch (`distributed.on_world_size_change`).
    var rankBatchSize: Int
    /// The global batch the config's learning rate is for: the run's first.
    var baseGlobalBatchSize: Int
    /// The learning rate's factor after a resume that changed the global batch (keep-rank-batch).
    var learningRateScale = 1.0
    var lastMetrics: [String: Double] = [:]
    /// Whether BatchNorm's running statistics are the cross-rank average (no training forward since):
    /// an epoch end that evaluates and checkpoints averages them once.
    var runningStatisticsAreAveraged = false
    /// BatchNorm's running statistics: the arena's values after the trainable ones.
    var runningStatistics: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: model.arena.values + model.arena.trainableCount,
                                   count: model.arena.valueCount - model.arena.trainableCount)
    }
    /// Their copy from before the current step (training.skip_nonfinite), sized once.
    let statisticsBeforeStep = Tensor(shape: [0])
    /// Steps skipped for a non-finite loss or gradient (training.skip_nonfinite).
    var skippedSteps = 0
    /// Images replaced by another of their class so far (`data.on_bad_image: skip`), over all ranks.
    var badImages = 0
    /// The evaluation due at `globalStep` has not run: a stop signal ended it (see `runPendingEvaluation`).
    var evaluationPending = false
    /// Names late ranks (`distributed.stall_timeout_s`) and ends the job when this rank stops making
    /// progress (`distributed.stall_abort_s`, while `run` runs).
    let watchdog: Watchdog
    /// Rank 0's hold on the run folder (one job per folder), for the trainer's lifetime.
    var runFolderLock: RunFolderLock?

    public init(config: TrainingConfig, communicator: Communicator, runDirectory: URL, resume: ResumePolicy,
                convolutionBackend: ConvolutionBackend = .oneDNN, maxSteps: Int? = nil,
                progress: ProgressReporter = ProgressReporter(), configChange: ConfigChange = .refuseForTrain) throws {
        self.config = config
        self.configChange = configChange
        self.communicator = communicator
        let consensus = Consensus(communicator)
        self.consensus = consensus
        rankBatchSize = config.training.batchSize
        baseGlobalBatchSize = config.training.batchSize * communicator.size
        self.runDirectory = runDirectory
        self.maxSteps = maxSteps
        self.progress = progress
        let isRoot = communicator.rank == 0
        let threads = config.training.threads
        ComputeThreads.set(threads)

        // The config and every flag that changes control flow, the same on every rank (or a clear stop).
        try consensus.requireSameSettings(try config.settings(flags: [
            "--max-steps": maxSteps.map(String.init) ?? "none", "--resume": "\(resume)", "--conv-backend": "\(convolutionBackend)",
        ]).filter { !TrainingConfig.perRankKeys.contains($0.key) })

        // Every rank reads the data; if any fails, all stop together (the failing ones say why).
        var pipeline: (any TrainingData)? = nil
        var oodSets: [Evaluator.OutOfDistributionSet] = []
        try consensus.allDecide("reading the data") {
            pipeline = try config.makeData()
            if let held = config.data.validationSubset, let trainCount = pipeline!.trainCount, trainCount == 0 {
                throw TrainingError.cannotStart("data.validation_subset: \(held) leaves no training examples; hold out fewer")
            }
            if let shards = pipeline as? ShardPipeline, shards.index.train.shards.count < communicator.size {
                throw TrainingError.cannotStart("data.root: \(config.data.root) holds \(shards.index.train.shards.count) training shard\(shards.index.train.shards.count == 1 ? "" : "s") for \(communicator.size) ranks, and each rank reads whole shards; pack it again with a smaller --shard-mb (at least one shard per rank), or use fewer ranks")
            }
            if pipeline!.trainCount != nil {
                oodSets = try Trainer.outOfDistributionSets(config, data: pipeline!, shape: pipeline!.inputShape)
            }
        }
        data = pipeline!
        outOfDistributionSets = oodSets
        guard data.trainCount != nil else {
            throw TrainingError.cannotStart("data.root: \(config.data.root) has no training split; point data.root at the dataset's folder")
        }
        model = ResNet(name: config.model.name, inputChannels: data.inputShape.channels,
                       classCount: data.classCount, width: config.model.width,
                       seed: UInt64(config.seed), makeConvolution: { convolutionBackend.makeKernel($0) })
        optimizer = SGD(arena: model.arena, configuration: .init(momentum: Float(config.optimizer.momentum),
                                                                 nesterov: config.optimizer.nesterov,
                                                                 weightDecay: Float(config.optimizer.weightDecay)))
        let decay: LearningRateSchedule.Decay = config.schedule.kind == .cosine
            ? .cosine(minimum: 0)
            : .multistep(milestones: config.schedule.milestones.map(Double.init), gamma: config.schedule.gamma)
        schedule = LearningRateSchedule(baseRate: config.optimizer.lr, decay: decay,
                                        warmupEpochs: Double(config.schedule.warmupEpochs),
                                        totalEpochs: Double(config.training.epochs))
        let alpha: Concentration
        switch config.mixing.alpha {
        case .fixed(let value): alpha = .fixed(value)
        case .uniform(let lower, let upper): alpha = .uniform(lower...upper)
        case .annealed(let from, let to): alpha = .annealed(from: from, to: to)
        }
        step = TrainingStep(model: model,
                            schedule: MixingSchedule(method: config.mixing.method, probability: config.mixing.probability,
                                                     fallback: config.mixing.resolvedFallback),
                            mixedCount: config.mixing.n, concentration: alpha, options: config.mixing.multiMixOptions,
                            fallbackConcentration: .fixed(config.mixing.resolvedFallbackAlpha))
        watchdog = try Watchdog(communicator: communicator, lateAfter: config.distributed.stallTimeoutS,
                                abortAfter: config.distributed.stallAbortS > 0 ? config.distributed.stallAbortS : nil)
        synchroniser = GradientSynchroniser(
            communicator: communicator, gradients: model.arena.gradients, count: model.arena.trainableCount,
            bucketBytes: max(4, Int(config.distributed.bucketMB * 1_048_576)), watchdog: watchdog)

        var store: CheckpointStore? = nil
        var lock: RunFolderLock? = nil
        try consensus.rootDecides("preparing the run folder") {
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            lock = try RunFolderLock(folder: runDirectory)
            store = try CheckpointStore(folder: runDirectory.appendingPathComponent("checkpoints"),
                                        keep: config.checkpoint.keep)
            // A refused --resume never must leave the folder as it was: check before writing anything.
            if case .never = resume { try Trainer.refuseExistingCheckpoints(store!) }
            try config.write(to: runDirectory.appendingPathComponent("config.yaml"))
        }
        checkpoints = isRoot ? store : nil
        runFolderLock = lock

        // Announce completed gradients to the synchroniser as backward produces them.
        model.onGradientsReady = { [unowned self] offset in
            guard synchronisationError == nil else { return }
            do { try synchroniser.gradientsReady(from: offset) } catch { synchronisationError = error }
        }
        try start(resume: resume)
        // The metrics log and the TensorBoard files continue after the step resumed from (records of
        // an interrupted run's lost steps are dropped: they are about to be logged again).
        var metricsLog: MetricsLog? = nil, events: TensorBoardLog? = nil
        try consensus.rootDecides("opening the metrics log") {
            metricsLog = try MetricsLog(url: runDirectory.appendingPathComponent("metrics.jsonl"), resumingAfter: globalStep)
            events = try TensorBoardLog(folder: runDirectory.appendingPathComponent("tb"), resumingAfter: globalStep)
        }
        log = metricsLog
        tensorBoard = events
    }

    /// Appends a record to the metrics log and the TensorBoard files (rank 0; a no-op elsewhere).
    func record(_ record: MetricsRecord) throws {
        try log?.append(record)
        try tensorBoard?.append(record)
    }

    /// Writes report.html from the metrics log (rank 0).
    public func writeReport() throws {
        guard communicator.rank == 0 else { return }
        try RunReport.write(runFolder: runDirectory, title: config.name, baseline: config.eval.baseline)
    }

    // MARK: - The loop

    /// Trains until the last epoch, `maxSteps`, or a stop signal.
    public func run() throws -> TrainingOutcome {
        PreemptionSignal.install()
        watchdog.startWatchingProgress()
        defer { watchdog.stopWatchingProgress() }
        if try !runPendingEvaluation() {
            if communicator.rank == 0 { progress.message("signal received during the pending evaluation: nothing new to save; resume with --resume auto") }
            return .preempted(signal: receivedSignal, checkpoint: checkpoints?.latest())
        }
        let loader = data.trainingLoader(rank: communicator.rank, worldSize: communicator.size,
                                         seed: UInt64(config.seed), batchSize: rankBatchSize,
                                         augmentation: Augmentation(cropPadding: config.data.augment.cropPadding,
                                                                    horizontalFlip: config.data.augment.horizontalFlip),
                                         startEpoch: epoch, startStep: stepInEpoch, endEpoch: config.training.epochs)
        defer { loader.stop() }
        let stepsPerEpoch = loader.batchesPerEpoch
        guard stepsPerEpoch > 0 else {
            throw TrainingError.cannotStart("training.batch_size: \(rankBatchSize) per rank × \(communicator.size) ranks is more than the \(data.trainCount ?? 0) training examples; lower it or use fewer ranks")
        }
        let shape = loader.shape
        let isRoot = communicator.rank == 0
        var window = Window()
        let runStart = MPI.wallTime

        while let batch = loader.next() {
            watchdog.beat()
            let stepStart = MPI.wallTime
            epoch = batch.epoch
            stepInEpoch = batch.step
            let epochsDone = Double(batch.epoch) + Double(batch.step) / Double(stepsPerEpoch)
            let learningRate = schedule.rate(atEpoch: epochsDone) * learningRateScale
            let trainingProgress = epochsDone / Double(config.training.epochs)

            // A step that may be skipped (or stopped by an image that did not decode) must leave
            // BatchNorm's running statistics as they were.
            if config.training.skipNonfinite || config.data.dataset.builtIn == nil {
                statisticsBeforeStep.resize(to: [runningStatistics.count])
                statisticsBeforeStep.data.update(from: runningStatistics.baseAddress!, count: runningStatistics.count)
            }
            // Forward and backward, all-reducing gradient buckets as backward completes them.
            synchroniser.beginStep(globalStep)
            let outcome = step.run(images: batch.images, labels: batch.labels, count: batch.count,
                                   imageShape: (shape.height, shape.width, shape.channels),
                                   randomness: MixingRandomness(seed: UInt64(config.seed), epoch: batch.epoch,
                                                                step: batch.step, rank: communicator.rank,
                                                                progress: trainingProgress))
            runningStatisticsAreAveraged = false
            if let error = synchronisationError { throw error }
            // The gradients' all-reduce carries five sums beside its last bucket (no round trip of
            // their own): Σ loss, any non-finite loss, any stop signal, any image that failed to
            // decode, Σ images replaced (data.on_bad_image: skip).
            var agreement: [Double] = [outcome.loss.isFinite ? outcome.loss : 0,
                                       outcome.loss.isFinite ? 0 : 1,
                                       PreemptionSignal.isRequested ? 1 : 0,
                                       batch.failure == nil ? 0 : 1,
                                       Double(batch.badImages)]
            // Exposed communication: this wait, and the checksum comparison below.
            var communication = try synchroniser.finish(summing: &agreement)
            badImages += Int(agreement[4])
            if agreement[3] > 0 {
                // Nothing of this step is kept: the checkpoint is the last completed step's, and a
                // resumed run reads this batch again.
                runningStatistics.baseAddress!.update(from: statisticsBeforeStep.data, count: runningStatistics.count)
                _ = try saveCheckpoint()
                let error = TrainingError.badImage(step: globalStep + 1, detail: batch.failure, checkpointStep: globalStep)
                // The ranks that read a bad file say which (each its own); the others stay quiet.
                throw batch.failure == nil ? error : ConsensusError.agreed(error)
            }
            // The averaged gradients are the same on every rank: so is this verdict.
            let gradientsFinite = Trainer.allFinite(model.arena.gradients, count: model.arena.trainableCount)
            let meanLoss = agreement[0] / Double(communicator.size)
            let skipped = agreement[1] > 0 || !gradientsFinite
            if skipped {
                // Steps are counted from 1 in messages, as in the progress lines.
                guard config.training.skipNonfinite else {
                    throw TrainingError.nonFinite(step: globalStep + 1, what: outcome.loss.isFinite ? "a gradient" : "the loss")
                }
                runningStatistics.baseAddress!.update(from: statisticsBeforeStep.data, count: runningStatistics.count)
                skippedSteps += 1
                if isRoot { progress.message("step \(globalStep + 1): non-finite loss or gradient; step skipped, nothing changed (training.skip_nonfinite)") }
            } else {
                optimizer.step(learningRate: Float(learningRate))
            }
            globalStep += 1
            stepInEpoch = batch.step + 1
            if batch.isLastOfEpoch {
                epoch = batch.epoch + 1
                stepInEpoch = 0
            }

            if config.distributed.checkEverySteps > 0 && globalStep % config.distributed.checkEverySteps == 0 {
                let checkStart = MPI.wallTime
                let divergent = try ParameterConsistency.divergentRanks(model.arena.values, count: model.arena.trainableCount,
                                                                        communicator: communicator)
                communication += MPI.wallTime - checkStart
                if !divergent.isEmpty { throw TrainingError.diverged(step: globalStep, ranks: divergent) }
            }

            // Progress and metrics (rank 0).
            let seconds = MPI.wallTime - stepStart
            window.add(loss: skipped ? nil : meanLoss, seconds: seconds, dataWait: loader.lastWaitSeconds, exposed: communication,
                       images: batch.count * communicator.size)
            if isRoot {
                let remaining = Double(config.training.epochs * stepsPerEpoch - globalStep)
                let line = ProgressReporter.Line(
                    epoch: batch.epoch, epochs: config.training.epochs, step: batch.step, stepsPerEpoch: stepsPerEpoch,
                    loss: window.meanLoss, learningRate: learningRate, imagesPerSecond: window.imagesPerSecond,
                    etaSeconds: remaining * (MPI.wallTime - runStart) / Double(max(1, window.totalSteps)),
                    dataWaitFraction: window.dataWaitFraction, exposedCommunicationMs: window.meanExposed * 1e3)
                progress.step(line, globalStep: globalStep - 1, every: config.training.logEverySteps)
            }
            if config.training.logEverySteps > 0 && globalStep % config.training.logEverySteps == 0 {
                lastMetrics = [MetricName.loss: window.meanLoss, MetricName.learningRate: learningRate,
                               MetricName.imagesPerSecond: window.imagesPerSecond,
                               "data_wait_fraction": window.dataWaitFraction, "exposed_comm_ms": window.meanExposed * 1e3,
                               "step_ms": window.meanStepSeconds * 1e3]
                if config.training.skipNonfinite { lastMetrics["skipped_steps"] = Double(skippedSteps) }
                if config.data.dataset.builtIn == nil { lastMetrics["bad_images"] = Double(badImages) }
                try record(MetricsRecord(kind: .train, step: globalStep,
                                         epoch: Double(globalStep) / Double(stepsPerEpoch), values: lastMetrics))
                window.reset()
            }

            // End of an epoch: evaluate and checkpoint as configured.
            let finished = batch.isLastOfEpoch && batch.epoch + 1 == config.training.epochs
            let reachedLimit = maxSteps.map { globalStep >= $0 } ?? false
            if batch.isLastOfEpoch {
                let completed = batch.epoch + 1
                if completed % config.eval.everyEpochs == 0 || finished, try !evaluate() {
                    return try stopAfterInterruptedEvaluation()
                }
                if completed % config.checkpoint.everyEpochs == 0 || finished {
                    let saved = try saveCheckpoint()
                    if finished { return .completed(checkpoint: saved) }
                }
            }
            if agreement[2] > 0 {
                let saved = try saveCheckpoint(stops: true)
                if isRoot { progress.message("signal received: checkpoint written at step \(globalStep); resume with --resume auto") }
                return .preempted(signal: receivedSignal, checkpoint: saved)
            }
            if reachedLimit {
                return .completed(checkpoint: try saveCheckpoint(stops: true))
            }
        }
        return .completed(checkpoint: checkpoints?.latest())
    }

    /// A stop signal ended the evaluation after an epoch: the epoch's training is kept, in a checkpoint
    /// marked `evaluation_pending` (the resumed run evaluates first), and the job stops within a batch.
    func stopAfterInterruptedEvaluation() throws -> TrainingOutcome {
        evaluationPending = true
        let saved = try saveCheckpoint(evaluationPending: true)
        if communicator.rank == 0 {
            progress.message("signal received during the evaluation after epoch \(epoch): checkpoint written at step \(globalStep); resume with --resume auto (it evaluates first)")
        }
        return .preempted(signal: receivedSignal, checkpoint: saved)
    }

    /// The stop signal the ranks agreed on (SIGTERM when another rank received it).
    var receivedSignal: Int32 { PreemptionSignal.signalNumber == 0 ? SIGTERM : PreemptionSignal.signalNumber }

    /// Figures over the steps since the last log line (a skipped step has no loss: it is not averaged in).
    struct Window {
        var steps = 0, totalSteps = 0, lossSteps = 0
        var loss = 0.0, seconds = 0.0, dataWait = 0.0, exposed = 0.0, images = 0

        mutating func add(loss: Double?, seconds: Double, dataWait: Double, exposed: Double, images: Int) {
            steps += 1
            totalSteps += 1
            if let loss {
                self.loss += loss
                lossSteps += 1
            }
            self.seconds += seconds + dataWait
            self.dataWait += dataWait
            self.exposed += exposed
            self.images += images
        }

        mutating func reset() {
            steps = 0; lossSteps = 0
            loss = 0; seconds = 0; dataWait = 0; exposed = 0; images = 0
        }

        var meanLoss: Double { lossSteps > 0 ? loss / Double(lossSteps) : .nan }
        var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
        var dataWaitFraction: Double { seconds > 0 ? dataWait / seconds : 0 }
        var meanExposed: Double { steps > 0 ? exposed / Double(steps) : 0 }
        /// A step's mean wall time, its wait for data included.
        var meanStepSeconds: Double { steps > 0 ? seconds / Double(steps) : 0 }
    }

    // MARK: - Helpers

    static func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
        // A sum is non-finite iff some term is (or it overflows, which is as bad).
        var sum: Float = 0
        for i in 0..<count { sum += values[i] * 0 }
        return sum == 0
    }
}
