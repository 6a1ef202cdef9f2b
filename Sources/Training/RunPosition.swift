import Checkpointing
import Datasets
import Foundation
import RunConfig

/// Where the run is: the next step's place, and the batch the steps take. A value, so that the
/// resume arithmetic (a checkpoint written on one number of ranks, continued on another) is tested
/// without MPI.
public struct RunPosition: Equatable, Sendable {
    /// The next step: its epoch, its index in the epoch, and the steps taken so far.
    public var epoch = 0, stepInEpoch = 0, globalStep = 0
    /// Examples per rank and step: `training.batch_size`, unless a resume on another number of ranks
    /// kept the global batch (`distributed.on_world_size_change`).
    public var rankBatchSize: Int
    /// The global batch the config's learning rate is for: the run's first.
    public var baseGlobalBatchSize: Int
    /// The learning rate's factor after a resume that changed the global batch (keep-rank-batch).
    public var learningRateScale = 1.0

    /// A fresh run of `rankBatchSize` examples per rank on `worldSize` ranks.
    public init(rankBatchSize: Int, worldSize: Int) {
        self.rankBatchSize = rankBatchSize
        baseGlobalBatchSize = rankBatchSize * worldSize
    }

    /// After the step at `step` of `epoch`: the next one (the next epoch's first after `endsEpoch`).
    public mutating func advance(pastStep step: Int, ofEpoch epoch: Int, endsEpoch: Bool) {
        globalStep += 1
        (self.epoch, stepInEpoch) = endsEpoch ? (epoch + 1, 0) : (epoch, step + 1)
    }

    /// What a checkpoint saved of the place: the epoch, the step in it and the batches that made them.
    public struct Saved: Equatable, Sendable {
        public var globalStep = 0, epoch = 0, worldSize = 0, baseGlobalBatchSize = 0, globalBatchSize = 0, stepInEpoch = 0

        /// From `state.json` (checkpoints from before elastic resume: the batch of their config and
        /// world size, the step in the epoch from the step count and `stepsPerEpoch(globalBatch, worldSize)`).
        public init(_ state: CheckpointState, stepsPerEpoch: (_ globalBatch: Int, _ worldSize: Int) -> Int) {
            globalStep = state.step
            epoch = state.epoch
            worldSize = state.worldSize
            globalBatchSize = state.globalBatchSize ?? state.config.training.batchSize * state.worldSize
            baseGlobalBatchSize = state.baseGlobalBatchSize ?? globalBatchSize
            stepInEpoch = state.stepInEpoch ?? {
                let perEpoch = stepsPerEpoch(globalBatchSize, state.worldSize)
                return perEpoch > 0 ? state.step % perEpoch : 0
            }()
        }

        /// As rank 0 broadcasts it.
        public var values: [Int64] { [globalStep, epoch, worldSize, baseGlobalBatchSize, globalBatchSize, stepInEpoch].map(Int64.init) }

        public init(values: [Int64]) {
            (globalStep, epoch, worldSize, baseGlobalBatchSize, globalBatchSize, stepInEpoch) =
                (Int(values[0]), Int(values[1]), Int(values[2]), Int(values[3]), Int(values[4]), Int(values[5]))
        }
    }

    /// Continues `saved` on `worldSize` ranks. On as many ranks as wrote it: the same batches. On
    /// another number, `change` says what is kept (the global batch, or the per-rank batch
    /// `configBatchSize` with the learning rate scaled), and the epoch goes on from the same example:
    /// the sampler's global order is the same on any number of ranks (rank r takes order[r],
    /// order[r + W], …), so a global batch of B at step s is order[s·B ..< (s + 1)·B] for any W.
    /// `keepsOrder`: whether the data keeps that order across world sizes (tar shards do not).
    /// `stepsPerEpoch(rankBatch)`: the epoch's steps on this world size.
    public init(resuming saved: Saved, worldSize W: Int, change: DistributedConfig.WorldSizeChange, configBatchSize: Int,
         keepsOrder: Bool, stepsPerEpoch: (_ rankBatch: Int) -> Int) throws {
        let base = saved.baseGlobalBatchSize
        switch change {
        case .keepGlobalBatch:
            guard base % W == 0 else {
                let divisors = (1...min(base, 64)).filter { base % $0 == 0 }.map(String.init).joined(separator: ", ")
                throw TrainingError.cannotStart("the run's global batch of \(base) does not split over \(W) ranks (distributed.on_world_size_change: keep-global-batch); resume on \(divisors)\(base > 64 ? ", …" : "") ranks, or set distributed.on_world_size_change: keep-rank-batch")
            }
            rankBatchSize = base / W
        case .keepRankBatch:
            rankBatchSize = configBatchSize
            learningRateScale = Double(rankBatchSize * W) / Double(base)
        }
        baseGlobalBatchSize = base
        guard W == saved.worldSize || saved.stepInEpoch == 0 || keepsOrder else {
            throw TrainingError.cannotStart("the checkpoint is \(saved.stepInEpoch) steps into epoch \(saved.epoch + 1) on \(saved.worldSize) ranks, and with tar shards each rank reads its own shards, so the rest of the epoch differs on \(W); resume on \(saved.worldSize) ranks, or from a checkpoint at an epoch's end")
        }
        let global = rankBatchSize * W
        let examplesDone = saved.stepInEpoch * saved.globalBatchSize
        guard examplesDone % global == 0 else {
            throw TrainingError.cannotStart("the checkpoint is \(saved.stepInEpoch) steps of \(saved.globalBatchSize) examples into epoch \(saved.epoch + 1), which steps of \(global) cannot continue; resume on \(saved.worldSize) ranks, or from a checkpoint at an epoch's end")
        }
        (epoch, stepInEpoch, globalStep) = (saved.epoch, examplesDone / global, saved.globalStep)
        let perEpoch = stepsPerEpoch(rankBatchSize)
        guard stepInEpoch == 0 || stepInEpoch < perEpoch else {
            throw TrainingError.cannotStart("the checkpoint is \(stepInEpoch) steps of \(global) into epoch \(epoch + 1), which has only \(perEpoch) on \(W) ranks; resume on \(saved.worldSize) ranks, or from a checkpoint at an epoch's end")
        }
    }

    /// What a resume on `worldSize` ranks of a run saved on `saved.worldSize` changed, for the log; nil
    /// on as many ranks.
    public func worldSizeNote(from saved: Saved, worldSize W: Int, change: DistributedConfig.WorldSizeChange) -> String? {
        guard W != saved.worldSize else { return nil }
        let global = rankBatchSize * W
        return change == .keepGlobalBatch
            ? "resuming on \(W) ranks a run of \(saved.worldSize): global batch \(global) kept, \(rankBatchSize) per rank (distributed.on_world_size_change: keep-global-batch)"
            : "resuming on \(W) ranks a run of \(saved.worldSize): \(rankBatchSize) per rank kept, global batch \(global), learning rate ×\(String(format: "%.4g", learningRateScale)) (distributed.on_world_size_change: keep-rank-batch)"
    }
}
