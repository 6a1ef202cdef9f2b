import Datasets
import Distributed
import Foundation
import RunOutputs
import Evaluation
import Checkpointing
import RunConfig
import Layers
import SwiftMPI

/// Starting (fresh or resumed) and saving: rank 0 owns the disk and broadcasts what it read, so the
/// other ranks need no shared filesystem.
extension Trainer {
    /// Name of the optimizer tensor holding SGD's step count (its first step initialises momentum).
    static let optimizerStepName = CheckpointStore.optimizerStepName
    /// Prefix of the momentum buffers in `optimizer.safetensors`: `momentum.<parameter name>`.
    static let momentumPrefix = "momentum."
    /// Each rank's own BatchNorm running statistics (world size × count, rank order) in
    /// `optimizer.safetensors`, saved by a stop where the run that never stopped keeps them apart
    /// (mid-epoch): a resume on as many ranks continues from them, bit for bit. `model.safetensors`
    /// holds their average, as at every checkpoint.
    static let rankStatisticsName = "running_statistics.per_rank"

    /// Loads the checkpoint that `resume` asks for on rank 0 (or none), then broadcasts parameters,
    /// BatchNorm statistics, momentum and position from rank 0 to every rank.
    func start(resume: ResumePolicy) throws {
        let arena = model.arena
        var resumedStep: Int64 = -1, pending: Int64 = 0
        var position = ResumedPosition()
        var rankStatistics: [Float]? = nil
        try consensus.rootDecides("loading the checkpoint") {
            guard let store = checkpoints else { return }
            var checkpoint: Checkpoint? = nil
            switch resume {
            case .never:
                try Trainer.refuseExistingCheckpoints(store)
            case .auto:
                // Fall back past checkpoints that load but cannot be restored into this model (a
                // missing tensor, a wrong shape, missing momentum), each refused by name.
                let (found, refused) = store.newestGood { candidate in try self.restore(candidate) }
                for reason in refused { progress.message("refused checkpoint: \(reason)") }
                if found == nil && !store.checkpointFolders().isEmpty {
                    throw TrainingError.cannotStart("\(store.folder.path) holds checkpoints and none of them can be resumed (refused above); move them away or fix them, or pass --resume never with a new --run-dir")
                }
                checkpoint = found
            case .path(let path):
                let explicit = try CheckpointStore.load(URL(fileURLWithPath: path))
                // Saving after an earlier step replaces the newer checkpoints of this run folder: refuse.
                let newer = store.checkpointFolders().filter { (CheckpointStore.step(ofFolderNamed: $0.lastPathComponent) ?? 0) > explicit.state.step }
                if let newest = newer.last {
                    throw TrainingError.cannotStart("\(store.folder.path) holds \(newer.count) checkpoint\(newer.count == 1 ? "" : "s") newer than step \(explicit.state.step) (newest \(newest.lastPathComponent)), which resuming from \(path) would replace; move them away, or resume into a new --run-dir")
                }
                try restore(explicit)
                checkpoint = explicit
            }
            guard let checkpoint else { return }
            if let note = try configChange.check(checkpoint, against: config) { progress.message(note) }
            resumedStep = Int64(checkpoint.state.step)
            pending = checkpoint.state.evaluationPending == true ? 1 : 0
            position = ResumedPosition(checkpoint.state, data: data)
            rankStatistics = Trainer.rankStatistics(of: checkpoint, worldSize: communicator.size, count: runningStatistics.count)
            progress.message("resuming from \(checkpoint.folder.path) (step \(checkpoint.state.step), epoch \(checkpoint.state.epoch))")
        }

        // Rank 0's parameters, statistics, momentum and position become everyone's.
        var header: [Int64] = [resumedStep, Int64(optimizer.stepCount), pending, rankStatistics == nil ? 0 : 1] + position.values
        try communicator.broadcast(&header, root: 0)
        evaluationPending = header[2] == 1
        position = ResumedPosition(values: Array(header[4...]))
        try communicator.broadcast(UnsafeMutableBufferPointer(start: arena.values, count: arena.valueCount), root: 0)
        try communicator.broadcast(UnsafeMutableBufferPointer(start: optimizer.momentumBuffer, count: arena.trainableCount), root: 0)
        optimizer.stepCount = Int(header[1])
        // Identical on every rank now: averaging them again would only round them differently.
        runningStatisticsAreAveraged = header[0] >= 0 && communicator.size > 1
        if header[3] == 1 {
            // Each rank takes back its own statistics (the checkpoint's average is in the arena until now).
            let statistics = runningStatistics
            var rows = rankStatistics ?? [Float](repeating: 0, count: communicator.size * statistics.count)
            try communicator.broadcast(&rows, root: 0)
            rows.withUnsafeBufferPointer {
                statistics.baseAddress!.update(from: $0.baseAddress! + communicator.rank * statistics.count, count: statistics.count)
            }
            runningStatisticsAreAveraged = false
        }
        if header[0] >= 0 {
            globalStep = Int(header[0])
            try continueRun(at: position)
        }
    }

    /// Where a checkpoint left the run: the epoch, the step in it and the batches that made them.
    struct ResumedPosition {
        var epoch = 0, worldSize = 0, baseGlobalBatchSize = 0, globalBatchSize = 0, stepInEpoch = 0

        init() {}

        /// From `state.json` (checkpoints from before elastic resume: the batch of their config and
        /// world size, the step in the epoch from the step count).
        init(_ state: CheckpointState, data: any TrainingData) {
            epoch = state.epoch
            worldSize = state.worldSize
            globalBatchSize = state.globalBatchSize ?? state.config.training.batchSize * state.worldSize
            baseGlobalBatchSize = state.baseGlobalBatchSize ?? globalBatchSize
            stepInEpoch = state.stepInEpoch ?? {
                let perEpoch = data.trainingSampler(rank: 0, worldSize: state.worldSize, seed: UInt64(state.config.seed))
                    .batchCount(batchSize: globalBatchSize / state.worldSize, dropLastBatch: true)
                return perEpoch > 0 ? state.step % perEpoch : 0
            }()
        }

        var values: [Int64] { [epoch, worldSize, baseGlobalBatchSize, globalBatchSize, stepInEpoch].map(Int64.init) }

        init(values: [Int64]) {
            (epoch, worldSize, baseGlobalBatchSize, globalBatchSize, stepInEpoch) =
                (Int(values[0]), Int(values[1]), Int(values[2]), Int(values[3]), Int(values[4]))
        }
    }

    /// Continues at `position` on this run's ranks. On as many ranks as wrote the checkpoint: the same
    /// batches. On another number, `distributed.on_world_size_change` says what is kept (the global
    /// batch, or the per-rank batch with the learning rate scaled), and the epoch goes on from the
    /// same example: the sampler's global order is the same on any number of ranks (rank r takes
    /// order[r], order[r + W], …), so a global batch of B at step s is order[s·B ..< (s + 1)·B] for any W.
    func continueRun(at position: ResumedPosition) throws {
        let W = communicator.size, base = position.baseGlobalBatchSize
        baseGlobalBatchSize = base
        switch config.distributed.onWorldSizeChange {
        case .keepGlobalBatch:
            guard base % W == 0 else {
                let divisors = (1...min(base, 64)).filter { base % $0 == 0 }.map(String.init).joined(separator: ", ")
                throw TrainingError.cannotStart("the run's global batch of \(base) does not split over \(W) ranks (distributed.on_world_size_change: keep-global-batch); resume on \(divisors)\(base > 64 ? ", …" : "") ranks, or set distributed.on_world_size_change: keep-rank-batch")
            }
            rankBatchSize = base / W
            learningRateScale = 1
        case .keepRankBatch:
            rankBatchSize = config.training.batchSize
            learningRateScale = Double(rankBatchSize * W) / Double(base)
        }
        guard W == position.worldSize || position.stepInEpoch == 0 || data.keepsOrderAcrossWorldSizes else {
            throw TrainingError.cannotStart("the checkpoint is \(position.stepInEpoch) steps into epoch \(position.epoch + 1) on \(position.worldSize) ranks, and with tar shards each rank reads its own shards, so the rest of the epoch differs on \(W); resume on \(position.worldSize) ranks, or from a checkpoint at an epoch's end")
        }
        let global = rankBatchSize * W
        let examplesDone = position.stepInEpoch * position.globalBatchSize
        guard examplesDone % global == 0 else {
            throw TrainingError.cannotStart("the checkpoint is \(position.stepInEpoch) steps of \(position.globalBatchSize) examples into epoch \(position.epoch + 1), which steps of \(global) cannot continue; resume on \(position.worldSize) ranks, or from a checkpoint at an epoch's end")
        }
        epoch = position.epoch
        stepInEpoch = examplesDone / global
        guard stepInEpoch == 0 || stepInEpoch < stepsPerEpoch else {
            throw TrainingError.cannotStart("the checkpoint is \(stepInEpoch) steps of \(global) into epoch \(epoch + 1), which has only \(stepsPerEpoch) on \(W) ranks; resume on \(position.worldSize) ranks, or from a checkpoint at an epoch's end")
        }
        if W != position.worldSize && communicator.rank == 0 {
            progress.message(config.distributed.onWorldSizeChange == .keepGlobalBatch
                ? "resuming on \(W) ranks a run of \(position.worldSize): global batch \(global) kept, \(rankBatchSize) per rank (distributed.on_world_size_change: keep-global-batch)"
                : "resuming on \(W) ranks a run of \(position.worldSize): \(rankBatchSize) per rank kept, global batch \(global), learning rate ×\(String(format: "%.4g", learningRateScale)) (distributed.on_world_size_change: keep-rank-batch)")
        }
    }

    /// `--resume never` on a folder that already holds checkpoints is refused (nothing is overwritten).
    static func refuseExistingCheckpoints(_ store: CheckpointStore) throws {
        let existing = store.checkpointFolders()
        if let newest = existing.last {
            throw TrainingError.cannotStart("\(store.folder.path) already holds \(existing.count) checkpoint\(existing.count == 1 ? "" : "s") (newest \(newest.lastPathComponent)); pass --resume auto to continue that run, or --run-dir for a new one")
        }
    }

    /// Steps per epoch on this world size (as the training loader will count them).
    var stepsPerEpoch: Int {
        data.trainingSampler(rank: communicator.rank, worldSize: communicator.size, seed: UInt64(config.seed))
            .batchCount(batchSize: rankBatchSize, dropLastBatch: true)
    }

    /// Copies a loaded checkpoint into the arena and the optimizer, checking every tensor's name and shape.
    func restore(_ checkpoint: Checkpoint) throws {
        let arena = model.arena
        try checkpoint.restoreParameters(into: arena, modelName: config.model.name.rawValue)
        let momentum = Dictionary(checkpoint.optimizer.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for entry in arena.entries where entry.role != .buffer {
            guard let buffer = momentum[Trainer.momentumPrefix + entry.name], buffer.values.count == entry.count else {
                throw TrainingError.cannotStart("\(checkpoint.folder.path)/optimizer.safetensors has no momentum for \(entry.name); the checkpoint is incomplete")
            }
            buffer.values.withUnsafeBufferPointer {
                (optimizer.momentumBuffer + entry.offset).update(from: $0.baseAddress!, count: entry.count)
            }
        }
        optimizer.stepCount = Int(momentum[Trainer.optimizerStepName]?.values.first ?? Float(checkpoint.state.step))
    }

    /// Averages BatchNorm's running statistics over the ranks (each rank saw other batches), before an
    /// evaluation or a checkpoint.
    func averageRunningStatistics() throws {
        let statistics = runningStatistics
        guard communicator.size > 1, statistics.count > 0, !runningStatisticsAreAveraged else { return }
        try communicator.allreduce(statistics, op: .sum)
        let scale = 1 / Float(communicator.size)
        for i in statistics.indices { statistics[i] *= scale }
        runningStatisticsAreAveraged = true
    }

    /// The per-rank running statistics of `checkpoint` (rank 0), when it has them for `worldSize`
    /// ranks and `count` statistics each: a resume on another number of ranks starts from the average.
    static func rankStatistics(of checkpoint: Checkpoint, worldSize: Int, count: Int) -> [Float]? {
        guard checkpoint.state.worldSize == worldSize,
              let rows = checkpoint.optimizer.first(where: { $0.name == rankStatisticsName }),
              rows.dtype == .f32, rows.shape == [worldSize, count] else { return nil }
        return rows.values
    }

    /// Averages the running statistics, then rank 0 writes a checkpoint; returns its folder on rank 0.
    ///
    /// A checkpoint where the run goes on averages them for good (as an evaluation does). A checkpoint
    /// where the job `stops` (a signal, `--max-steps`) must not: the run that never stopped keeps each
    /// rank's own statistics until the epoch's end, so they are saved beside the average (see
    /// `rankStatisticsName`) and put back.
    @discardableResult
    func saveCheckpoint(evaluationPending: Bool = false, stops: Bool = false) throws -> URL? {
        let statistics = runningStatistics
        let keepApart = stops && communicator.size > 1 && statistics.count > 0 && !runningStatisticsAreAveraged
        let own = keepApart ? Array(statistics) : []
        let rows = keepApart ? try communicator.gather(own, root: 0) : nil
        try averageRunningStatistics()
        defer {
            if keepApart {
                own.withUnsafeBufferPointer { statistics.baseAddress!.update(from: $0.baseAddress!, count: statistics.count) }
                runningStatisticsAreAveraged = false
            }
        }
        var saved: URL? = nil
        let arena = model.arena
        try consensus.rootDecides("writing a checkpoint") {
            guard let store = checkpoints else { return }
            var stepCount = Float(optimizer.stepCount)
            // PyTorch counts BatchNorm's training forwards: here one per step the optimizer took (a
            // skipped step restores the running statistics and takes no optimizer step).
            var batchesTracked = Int64(optimizer.stepCount)
            try withUnsafePointer(to: &stepCount) { stepPointer in try withUnsafePointer(to: &batchesTracked) { trackedPointer in
                let modelTensors = Checkpoint.modelTensors(arena, batchesTracked: trackedPointer)
                let optimizerTensors = arena.entries.filter { $0.role != .buffer }.map {
                    TensorSlice(name: Trainer.momentumPrefix + $0.name, shape: $0.shape,
                                values: UnsafeBufferPointer(start: optimizer.momentumBuffer + $0.offset, count: $0.count))
                } + [TensorSlice(name: Trainer.optimizerStepName, shape: [1], values: UnsafeBufferPointer(start: stepPointer, count: 1))]
                try (rows ?? []).withUnsafeBufferPointer { rowPointer in
                    let rankTensors = rows == nil ? [] : [TensorSlice(name: Trainer.rankStatisticsName,
                                                                      shape: [communicator.size, statistics.count], values: rowPointer)]
                    saved = try store.save(step: globalStep, epoch: epoch, worldSize: communicator.size, config: config,
                                           metrics: lastMetrics, model: modelTensors, optimizer: optimizerTensors + rankTensors,
                                           evaluationPending: evaluationPending,
                                           batches: .init(baseGlobalBatchSize: baseGlobalBatchSize,
                                                          globalBatchSize: rankBatchSize * communicator.size,
                                                          stepInEpoch: stepInEpoch))
                }
            } }
        }
        return saved
    }
}
