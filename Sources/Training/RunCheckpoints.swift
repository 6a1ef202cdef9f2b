import Checkpointing
import Datasets
import Distributed
import Foundation
import Layers
import RunConfig
import RunOutputs
import SwiftMPI

/// A run's checkpoints: starting (fresh or resumed) and saving. Rank 0 owns the disk and broadcasts
/// what it read, so the other ranks need no shared filesystem; every rank learns whether rank 0's
/// part worked (`Consensus.rootDecides`).
final class RunCheckpoints {
    /// The run folder's checkpoints (rank 0; nil elsewhere).
    let store: CheckpointStore?
    let consensus: Consensus
    let arena: ParameterArena
    let optimizer: SGD
    let statistics: RunningStatistics
    let config: TrainingConfig
    let data: any TrainingData
    /// What a resume does when the config changes the run the checkpoint saved.
    let configChange: ConfigChange
    let progress: ProgressReporter
    var communicator: Communicator { consensus.communicator }

    init(store: CheckpointStore?, consensus: Consensus, arena: ParameterArena, optimizer: SGD, statistics: RunningStatistics,
         config: TrainingConfig, data: any TrainingData, configChange: ConfigChange, progress: ProgressReporter) {
        (self.store, self.consensus, self.arena, self.optimizer, self.statistics) = (store, consensus, arena, optimizer, statistics)
        (self.config, self.data, self.configChange, self.progress) = (config, data, configChange, progress)
    }

    /// What a resume starts from: the saved place, and whether its evaluation is still to run.
    struct Resumed {
        var saved: RunPosition.Saved
        var evaluationPending: Bool
    }

    /// The newest checkpoint's folder (rank 0).
    func latest() -> URL? { store?.latest() }

    /// Loads the checkpoint that `resume` asks for on rank 0 (or none), then broadcasts parameters,
    /// BatchNorm statistics, momentum and position from rank 0 to every rank. Nil: a fresh start.
    func start(resume: ResumePolicy) throws -> Resumed? {
        var resumed: Resumed? = nil
        var rankRows: [Float]? = nil
        try consensus.rootDecides("loading the checkpoint") {
            guard let checkpoint = try load(resume) else { return }
            if let note = try configChange.check(checkpoint, against: config) { progress.message(note) }
            let state = checkpoint.state
            resumed = Resumed(saved: RunPosition.Saved(state) { globalBatch, worldSize in
                self.data.trainingSampler(rank: 0, worldSize: worldSize, seed: UInt64(state.config.seed))
                    .batchCount(batchSize: globalBatch / worldSize, dropLastBatch: true)
            }, evaluationPending: state.evaluationPending == true)
            rankRows = RunCheckpoints.rankRows(of: checkpoint, worldSize: communicator.size, count: statistics.values.count)
            progress.message("resuming from \(checkpoint.folder.path) (step \(state.step), epoch \(state.epoch))")
        }

        // Rank 0's parameters, statistics, momentum and position become everyone's.
        let saved = resumed?.saved ?? RunPosition.Saved(values: [Int64](repeating: 0, count: 6))
        let header = try consensus.rootsValues([resumed == nil ? 0 : 1, Int64(optimizer.stepCount),
                                                resumed?.evaluationPending == true ? 1 : 0, rankRows == nil ? 0 : 1] + saved.values)
        try communicator.broadcast(UnsafeMutableBufferPointer(start: arena.values, count: arena.valueCount), root: 0)
        try communicator.broadcast(UnsafeMutableBufferPointer(start: optimizer.momentumBuffer, count: arena.trainableCount), root: 0)
        optimizer.stepCount = Int(header[1])
        guard header[0] == 1 else { return nil }
        // Identical on every rank now: averaging them again would only round them differently.
        statistics.isAveraged = communicator.size > 1
        if header[3] == 1 {
            // Each rank takes back its own statistics (the checkpoint's average is in the arena until now).
            var rows = rankRows ?? [Float](repeating: 0, count: communicator.size * statistics.values.count)
            try communicator.broadcast(&rows, root: 0)
            statistics.takeOwnRow(of: rows)
        }
        return Resumed(saved: RunPosition.Saved(values: Array(header[4...])), evaluationPending: header[2] == 1)
    }

    /// The checkpoint `resume` names, restored into the arena and the optimizer (rank 0), or nil.
    private func load(_ resume: ResumePolicy) throws -> Checkpoint? {
        guard let store else { return nil }
        switch resume {
        case .never:
            try RunCheckpoints.refuseExisting(store)
            return nil
        case .auto:
            // Fall back past checkpoints that load but cannot be restored into this model (a
            // missing tensor, a wrong shape, missing momentum), each refused by name.
            let (found, refused) = store.newestGood { candidate in try self.restore(candidate) }
            for reason in refused { progress.message("refused checkpoint: \(reason)") }
            if found == nil && !store.checkpointFolders().isEmpty {
                throw TrainingError.cannotStart("\(store.folder.path) holds checkpoints and none of them can be resumed (refused above); move them away or fix them, or pass --resume never with a new --run-dir")
            }
            return found
        case .path(let path):
            let explicit = try CheckpointStore.load(URL(fileURLWithPath: path))
            // Saving after an earlier step replaces the newer checkpoints of this run folder: refuse.
            let newer = store.checkpointFolders().filter { (CheckpointStore.step(ofFolderNamed: $0.lastPathComponent) ?? 0) > explicit.state.step }
            if let newest = newer.last {
                throw TrainingError.cannotStart("\(store.folder.path) holds \(newer.count) checkpoint\(newer.count == 1 ? "" : "s") newer than step \(explicit.state.step) (newest \(newest.lastPathComponent)), which resuming from \(path) would replace; move them away, or resume into a new --run-dir")
            }
            try restore(explicit)
            return explicit
        }
    }

    /// `--resume never` on a folder that already holds checkpoints is refused (nothing is overwritten).
    static func refuseExisting(_ store: CheckpointStore) throws {
        let existing = store.checkpointFolders()
        if let newest = existing.last {
            throw TrainingError.cannotStart("\(store.folder.path) already holds \(existing.count) checkpoint\(existing.count == 1 ? "" : "s") (newest \(newest.lastPathComponent)); pass --resume auto to continue that run, or --run-dir for a new one")
        }
    }

    /// Copies a loaded checkpoint into the arena and the optimizer, checking every tensor's name and shape.
    private func restore(_ checkpoint: Checkpoint) throws {
        try checkpoint.restoreParameters(into: arena, modelName: config.model.name.rawValue)
        let saved = Dictionary(checkpoint.optimizer.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        if let missing = optimizer.restoreState({ saved[$0]?.values }, fallbackStep: checkpoint.state.step) {
            throw TrainingError.cannotStart("\(checkpoint.folder.path)/optimizer.safetensors has no momentum for \(missing); the checkpoint is incomplete")
        }
    }

    /// The per-rank running statistics of `checkpoint` (rank 0), when it has them for `worldSize`
    /// ranks and `count` statistics each: a resume on another number of ranks starts from the average.
    static func rankRows(of checkpoint: Checkpoint, worldSize: Int, count: Int) -> [Float]? {
        guard checkpoint.state.worldSize == worldSize,
              let rows = checkpoint.optimizer.first(where: { $0.name == RunningStatistics.perRankName }),
              rows.dtype == .f32, rows.shape == [worldSize, count] else { return nil }
        return rows.values
    }

    /// Averages the running statistics, then rank 0 writes a checkpoint at `position`; returns its
    /// folder on rank 0.
    ///
    /// A checkpoint where the run goes on averages them for good (as an evaluation does). A checkpoint
    /// where the job `stops` (a signal, `--max-steps`) must not: the run that never stopped keeps each
    /// rank's own statistics until the epoch's end, so they are saved beside the average (see
    /// `RunningStatistics.perRankName`) and put back.
    func save(at position: RunPosition, metrics: [String: Double], evaluationPending: Bool = false, stops: Bool = false) throws -> URL? {
        let keepApart = stops && statistics.mayDifferAcrossRanks
        let own = keepApart ? Array(statistics.values) : []
        let rows = keepApart ? try communicator.gather(own, root: 0) : nil
        try statistics.average()
        defer { if keepApart { statistics.restore(own: own) } }
        var saved: URL? = nil
        try consensus.rootDecides("writing a checkpoint") {
            guard let store else { return }
            var stepCount = Float(optimizer.stepCount)
            // PyTorch counts BatchNorm's training forwards: here one per step the optimizer took (a
            // skipped step restores the running statistics and takes no optimizer step).
            var batchesTracked = Int64(optimizer.stepCount)
            try withUnsafePointer(to: &stepCount) { stepPointer in try withUnsafePointer(to: &batchesTracked) { trackedPointer in
                let modelTensors = Checkpoint.modelTensors(arena, batchesTracked: trackedPointer)
                let optimizerTensors = optimizer.momentumBuffers.map {
                    TensorSlice(name: $0.name, shape: $0.shape, values: UnsafeBufferPointer($0.values))
                } + [TensorSlice(name: SGD.stepCountName, shape: [1], values: UnsafeBufferPointer(start: stepPointer, count: 1))]
                try (rows ?? []).withUnsafeBufferPointer { rowPointer in
                    let rankTensors = rows == nil ? [] : [TensorSlice(name: RunningStatistics.perRankName,
                                                                      shape: [communicator.size, statistics.values.count], values: rowPointer)]
                    saved = try store.save(step: position.globalStep, epoch: position.epoch, worldSize: communicator.size, config: config,
                                           metrics: metrics, model: modelTensors, optimizer: optimizerTensors + rankTensors,
                                           evaluationPending: evaluationPending,
                                           batches: .init(baseGlobalBatchSize: position.baseGlobalBatchSize,
                                                          globalBatchSize: position.rankBatchSize * communicator.size,
                                                          stepInEpoch: position.stepInEpoch))
                }
            } }
        }
        return saved
    }
}
