import Checkpointing
import Datasets
import Distributed
import Evaluation
import Foundation
import Layers
import Mixing
import Models
import RunConfig
import RunOutputs
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
///                beside the last bucket: Σ loss, non-finite losses, stop signals, bad images (StepAgreement)
///     every check_every_steps: parameter checksums compared across ranks
///     per epoch: evaluation (test set split over ranks, counts reduced) and rank-0 checkpoint,
///                after averaging BatchNorm's running statistics across ranks
public final class Trainer {
    public let config: TrainingConfig
    public let communicator: Communicator
    public let runDirectory: URL
    public let model: ResNet
    /// How the ranks decide together (rank 0 decides, all decide, same settings).
    let consensus: Consensus
    let setup: RunSetup
    var data: any TrainingData { setup.data }
    let synchroniser: GradientSynchroniser
    let checkpoints: RunCheckpoints
    let statistics: RunningStatistics
    let progress: ProgressReporter
    /// The metrics log and TensorBoard files (rank 0).
    var log: RunLog?
    let maxSteps: Int?
    var synchronisationError: Error?
    /// The next step's place and the batch the steps take.
    public private(set) var position: RunPosition
    var lastMetrics: [String: Double] = [:]
    /// Steps skipped for a non-finite loss or gradient (training.skip_nonfinite).
    var skippedSteps = 0
    /// Images replaced by another of their class so far (`data.on_bad_image: skip`), over all ranks.
    var badImages = 0
    /// The evaluation due at the current step has not run: a stop signal ended it (see `runPendingEvaluation`).
    var evaluationPending = false
    /// Names late ranks (`distributed.stall_timeout_s`) and ends the job when this rank stops making
    /// progress (`distributed.stall_abort_s`, while `run` runs).
    let watchdog: Watchdog
    /// Rank 0's hold on the run folder (one job per folder), for the trainer's lifetime.
    var runFolderLock: RunFolderLock?

    public init(config: TrainingConfig, communicator: Communicator, runDirectory: URL, resume: ResumePolicy,
                convolutionBackend: ConvolutionBackend = .oneDNN, maxSteps: Int? = nil,
                progress: ProgressReporter = ProgressReporter(), configChange: ConfigChange = .refuseForTrain) throws {
        (self.config, self.communicator, self.runDirectory, self.maxSteps, self.progress) = (config, communicator, runDirectory, maxSteps, progress)
        let consensus = Consensus(communicator)
        self.consensus = consensus
        ComputeThreads.set(config.training.threads)

        // The config and every flag that changes control flow, the same on every rank (or a clear stop).
        try consensus.requireSameSettings(try config.settings(flags: [
            "--max-steps": maxSteps.map(String.init) ?? "none", "--resume": "\(resume)", "--conv-backend": "\(convolutionBackend)",
        ]).filter { !TrainingConfig.perRankKeys.contains($0.key) })
        setup = try RunSetup(config, consensus: consensus, convolutionBackend: convolutionBackend)
        model = setup.model
        statistics = RunningStatistics(arena: model.arena, communicator: communicator)
        position = RunPosition(rankBatchSize: config.training.batchSize, worldSize: communicator.size)
        watchdog = try Watchdog(communicator: communicator, lateAfter: config.distributed.stallTimeoutS,
                                abortAfter: config.distributed.stallAbortS > 0 ? config.distributed.stallAbortS : nil)
        synchroniser = GradientSynchroniser(
            communicator: communicator, gradients: model.arena.gradients, count: model.arena.trainableCount,
            bucketBytes: max(4, Int(config.distributed.bucketMB * 1_048_576)), watchdog: watchdog)

        var store: CheckpointStore? = nil, lock: RunFolderLock? = nil
        try consensus.rootDecides("preparing the run folder") {
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            lock = try RunFolderLock(folder: runDirectory)
            store = try CheckpointStore(folder: runDirectory.appendingPathComponent("checkpoints"), keep: config.checkpoint.keep)
            // A refused --resume never must leave the folder as it was: check before writing anything.
            if case .never = resume { try RunCheckpoints.refuseExisting(store!) }
            try config.write(to: runDirectory.appendingPathComponent("config.yaml"))
        }
        runFolderLock = lock
        checkpoints = RunCheckpoints(store: store, consensus: consensus, arena: model.arena, optimizer: setup.optimizer,
                                     statistics: statistics, config: config, data: setup.data, configChange: configChange, progress: progress)

        // Announce completed gradients to the synchroniser as backward produces them.
        model.onGradientsReady = { [unowned self] offset in
            guard synchronisationError == nil else { return }
            do { try synchroniser.gradientsReady(from: offset) } catch { synchronisationError = error }
        }
        if let resumed = try checkpoints.start(resume: resume) {
            evaluationPending = resumed.evaluationPending
            let (data, rank, size, seed) = (setup.data, communicator.rank, communicator.size, UInt64(config.seed))
            position = try RunPosition(resuming: resumed.saved, worldSize: size, change: config.distributed.onWorldSizeChange,
                                       configBatchSize: config.training.batchSize, keepsOrder: data.keepsOrderAcrossWorldSizes) {
                data.trainingSampler(rank: rank, worldSize: size, seed: seed).batchCount(batchSize: $0, dropLastBatch: true)
            }
            if rank == 0, let note = position.worldSizeNote(from: resumed.saved, worldSize: size, change: config.distributed.onWorldSizeChange) {
                progress.message(note)
            }
        }
        var runLog: RunLog? = nil
        try consensus.rootDecides("opening the metrics log") {
            runLog = try RunLog(runFolder: runDirectory, resumingAfter: position.globalStep)
        }
        log = runLog
    }

    /// Writes report.html from the metrics log (rank 0).
    public func writeReport() throws {
        guard communicator.rank == 0 else { return }
        try RunReport.write(runFolder: runDirectory, title: config.name, baseline: config.eval.baseline, split: config.eval.split)
    }

    // MARK: - The loop

    /// Trains until the last epoch, `maxSteps`, or a stop signal.
    public func run() throws -> TrainingOutcome {
        PreemptionSignal.install()
        watchdog.startWatchingProgress()
        defer { watchdog.stopWatchingProgress() }
        if try !runPendingEvaluation() {
            if communicator.rank == 0 { progress.message("signal received during the pending evaluation: nothing new to save; resume with --resume auto") }
            return .preempted(signal: receivedSignal, checkpoint: checkpoints.latest())
        }
        let loader = data.trainingLoader(rank: communicator.rank, worldSize: communicator.size,
                                         seed: UInt64(config.seed), batchSize: position.rankBatchSize,
                                         augmentation: Augmentation(cropPadding: config.data.augment.cropPadding,
                                                                    horizontalFlip: config.data.augment.horizontalFlip),
                                         startEpoch: position.epoch, startStep: position.stepInEpoch, endEpoch: config.training.epochs)
        defer { loader.stop() }
        let stepsPerEpoch = loader.batchesPerEpoch
        guard stepsPerEpoch > 0 else {
            throw TrainingError.cannotStart("training.batch_size: \(position.rankBatchSize) per rank × \(communicator.size) ranks is more than the \(data.trainCount ?? 0) training examples; lower it or use fewer ranks")
        }
        let shape = loader.shape
        var window = StepWindow()
        let runStart = MPI.wallTime

        while let batch = loader.next() {
            watchdog.beat()
            let stepStart = MPI.wallTime
            (position.epoch, position.stepInEpoch) = (batch.epoch, batch.step)
            let epochsDone = Double(batch.epoch) + Double(batch.step) / Double(stepsPerEpoch)
            let learningRate = setup.schedule.rate(atEpoch: epochsDone) * position.learningRateScale

            // A step that may be skipped (or stopped by an image that did not decode) must leave
            // BatchNorm's running statistics as they were.
            if config.training.skipNonfinite || config.data.dataset.builtIn == nil { statistics.keepCopyBeforeStep() }
            // Forward and backward, all-reducing gradient buckets as backward completes them.
            synchroniser.beginStep(position.globalStep)
            let outcome = setup.step.run(images: batch.images, labels: batch.labels, count: batch.count,
                                         imageShape: (shape.height, shape.width, shape.channels),
                                         randomness: MixingRandomness(seed: UInt64(config.seed), epoch: batch.epoch, step: batch.step,
                                                                      rank: communicator.rank, progress: epochsDone / Double(config.training.epochs)))
            statistics.isAveraged = false
            if let error = synchronisationError { throw error }
            var agreement = StepAgreement(loss: outcome.loss, stopRequested: PreemptionSignal.isRequested,
                                          undecodedImage: batch.failure != nil, replacedImages: batch.badImages)
            // Exposed communication: this wait, and the checksum comparison below.
            var communication = try agreement.sum(finishing: synchroniser)
            badImages += agreement.replacedImages
            if agreement.undecodedImages > 0 {
                // Nothing of this step is kept: the checkpoint is the last completed step's, and a
                // resumed run reads this batch again.
                statistics.undoStep()
                _ = try checkpoints.save(at: position, metrics: lastMetrics)
                let error = TrainingError.badImage(step: position.globalStep + 1, detail: batch.failure, checkpointStep: position.globalStep)
                // The ranks that read a bad file say which (each its own); the others stay quiet.
                throw batch.failure == nil ? error : ConsensusError.agreed(error)
            }
            // The averaged gradients are the same on every rank: so is this verdict.
            let skipped = agreement.nonFiniteLosses > 0 || !Trainer.allFinite(model.arena.gradients, count: model.arena.trainableCount)
            if skipped {
                // Steps are counted from 1 in messages, as in the progress lines.
                guard config.training.skipNonfinite else {
                    throw TrainingError.nonFinite(step: position.globalStep + 1, what: outcome.loss.isFinite ? "a gradient" : "the loss")
                }
                statistics.undoStep()
                skippedSteps += 1
                if communicator.rank == 0 { progress.message("step \(position.globalStep + 1): non-finite loss or gradient; step skipped, nothing changed (training.skip_nonfinite)") }
            } else {
                setup.optimizer.step(learningRate: Float(learningRate))
            }
            position.advance(pastStep: batch.step, ofEpoch: batch.epoch, endsEpoch: batch.isLastOfEpoch)
            communication += try checkParametersAgree()

            window.add(loss: skipped ? nil : agreement.lossSum / Double(communicator.size), seconds: MPI.wallTime - stepStart,
                       dataWait: loader.lastWaitSeconds, exposed: communication, images: batch.count * communicator.size)
            try report(&window, batch: batch, stepsPerEpoch: stepsPerEpoch, learningRate: learningRate, runStart: runStart)

            // End of an epoch: evaluate and checkpoint as configured.
            let finished = batch.isLastOfEpoch && batch.epoch + 1 == config.training.epochs
            if batch.isLastOfEpoch {
                let completed = batch.epoch + 1
                if completed % config.eval.everyEpochs == 0 || finished, try !evaluate() {
                    return try stopAfterInterruptedEvaluation()
                }
                if completed % config.checkpoint.everyEpochs == 0 || finished {
                    let saved = try checkpoints.save(at: position, metrics: lastMetrics)
                    if finished { return .completed(checkpoint: saved) }
                }
            }
            if agreement.stopRequests > 0 {
                let saved = try checkpoints.save(at: position, metrics: lastMetrics, stops: true)
                if communicator.rank == 0 { progress.message("signal received: checkpoint written at step \(position.globalStep); resume with --resume auto") }
                return .preempted(signal: receivedSignal, checkpoint: saved)
            }
            if let maxSteps, position.globalStep >= maxSteps {
                return .completed(checkpoint: try checkpoints.save(at: position, metrics: lastMetrics, stops: true))
            }
        }
        return .completed(checkpoint: checkpoints.latest())
    }

    /// Every `distributed.check_every_steps`: the ranks' parameter checksums compared (a difference
    /// stops the job). Returns the seconds it took (exposed communication).
    func checkParametersAgree() throws -> Double {
        guard config.distributed.checkEverySteps > 0 && position.globalStep % config.distributed.checkEverySteps == 0 else { return 0 }
        let start = MPI.wallTime
        let divergent = try ParameterConsistency.divergentRanks(model.arena.values, count: model.arena.trainableCount,
                                                                communicator: communicator)
        if !divergent.isEmpty { throw TrainingError.diverged(step: position.globalStep, ranks: divergent) }
        return MPI.wallTime - start
    }

    /// The progress line (rank 0) and, every `training.log_every_steps`, a metrics record of `window`.
    func report(_ window: inout StepWindow, batch: Batch, stepsPerEpoch: Int, learningRate: Double, runStart: Double) throws {
        let globalStep = position.globalStep
        if communicator.rank == 0 {
            let remaining = Double(config.training.epochs * stepsPerEpoch - globalStep)
            let line = ProgressReporter.Line(
                epoch: batch.epoch, epochs: config.training.epochs, step: batch.step, stepsPerEpoch: stepsPerEpoch,
                loss: window.meanLoss, learningRate: learningRate, imagesPerSecond: window.imagesPerSecond,
                etaSeconds: remaining * (MPI.wallTime - runStart) / Double(max(1, window.totalSteps)),
                dataWaitFraction: window.dataWaitFraction, exposedCommunicationMs: window.meanExposed * 1e3)
            progress.step(line, globalStep: globalStep - 1, every: config.training.logEverySteps)
        }
        guard config.training.logEverySteps > 0 && globalStep % config.training.logEverySteps == 0 else { return }
        lastMetrics = [MetricName.loss: window.meanLoss, MetricName.learningRate: learningRate,
                       MetricName.imagesPerSecond: window.imagesPerSecond,
                       "data_wait_fraction": window.dataWaitFraction, "exposed_comm_ms": window.meanExposed * 1e3,
                       "step_ms": window.meanStepSeconds * 1e3]
        if config.training.skipNonfinite { lastMetrics["skipped_steps"] = Double(skippedSteps) }
        if config.data.dataset.builtIn == nil { lastMetrics["bad_images"] = Double(badImages) }
        try log?.append(MetricsRecord(kind: .train, step: globalStep, epoch: Double(globalStep) / Double(stepsPerEpoch), values: lastMetrics))
        window.reset()
    }

    /// A stop signal ended the evaluation after an epoch: the epoch's training is kept, in a checkpoint
    /// marked `evaluation_pending` (the resumed run evaluates first), and the job stops within a batch.
    func stopAfterInterruptedEvaluation() throws -> TrainingOutcome {
        evaluationPending = true
        let saved = try checkpoints.save(at: position, metrics: lastMetrics, evaluationPending: true)
        if communicator.rank == 0 {
            progress.message("signal received during the evaluation after epoch \(position.epoch): checkpoint written at step \(position.globalStep); resume with --resume auto (it evaluates first)")
        }
        return .preempted(signal: receivedSignal, checkpoint: saved)
    }

    /// The stop signal the ranks agreed on (SIGTERM when another rank received it).
    var receivedSignal: Int32 { PreemptionSignal.signalNumber == 0 ? SIGTERM : PreemptionSignal.signalNumber }

    static func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
        // A sum is non-finite iff some term is (or it overflows, which is as bad).
        var sum: Float = 0
        for i in 0..<count { sum += values[i] * 0 }
        return sum == 0
    }
}
