import Checkpointing
import Distributed
import Foundation
import RunConfig
import RunOutputs
import SwiftMPI

extension FinishedMarker {
    /// Which of `runs` have finished, as every rank learns it from rank 0 (which owns the disk): a run
    /// has finished when its folder holds a ``FinishedMarker`` for its config. A marker written for
    /// another config stops every rank with an error naming the folder (the study file has changed
    /// since the run finished).
    public static func finishedRuns(_ runs: [(config: TrainingConfig, folder: URL)],
                                    communicator: Communicator) throws -> [Bool] {
        var finished = [Int32](repeating: 0, count: runs.count)
        try Consensus(communicator).rootDecides("reading the runs' finished.json") {
            for (index, run) in runs.enumerated() {
                guard let marker = FinishedMarker.read(runFolder: run.folder) else { continue }
                guard try marker.configHash == FinishedMarker.configHash(run.config) || trainedAsGiven(run) else {
                    throw TrainingError.cannotStart("\(run.folder.path) finished with another config than the study now gives it (\(FinishedMarker.fileName) has config_hash \(marker.configHash.prefix(12))…); delete that folder to train it again, or give the study another name")
                }
                finished[index] = 1
            }
        }
        try communicator.broadcast(&finished, root: 0)
        return finished.map { $0 != 0 }
    }

    /// Whether the run folder's config.yaml (the config the run trained with, read by this version)
    /// has every setting of `run.config` but the threads. The hash in finished.json covers the whole
    /// encoded config, so a later version that encodes a new key (at its default) hashes the same
    /// run differently; setting by setting, a new key has its default on both sides and the run is
    /// still recognised as finished. A missing or unreadable config.yaml is not the same run.
    static func trainedAsGiven(_ run: (config: TrainingConfig, folder: URL)) throws -> Bool {
        guard let trained = try? TrainingConfig.load(contentsOf: run.folder.appendingPathComponent("config.yaml")) else { return false }
        return try ConfigChange.changes(from: trained, to: run.config, ignoring: ["training.threads"]).isEmpty
    }
}

/// What a finished run of a study with `final_test` still needs, as every rank learns it from rank 0.
public enum FinalTestState: Int32, Sendable {
    /// Not finished, or its test.json is there.
    case nothing = 0
    /// Finished without a test.json: its final checkpoint is evaluated on the test split.
    case toEvaluate = 1
    /// Finished without a test.json or a checkpoint to evaluate (deleted): its test split stays missing.
    case noCheckpoint = 2

    /// The state of each run folder, given which runs have finished.
    public static func of(_ folders: [URL], finished: [Bool], communicator: Communicator) throws -> [FinalTestState] {
        var states = [Int32](repeating: FinalTestState.nothing.rawValue, count: folders.count)
        try Consensus(communicator).rootDecides("reading the runs' \(TestSplitResult.fileName)") {
            for (index, folder) in folders.enumerated() where finished[index] {
                guard try TestSplitResult.read(runFolder: folder) == nil else { continue }
                let latest = CheckpointStore.latest(in: folder.appendingPathComponent("checkpoints"))
                states[index] = (latest == nil ? FinalTestState.noCheckpoint : .toEvaluate).rawValue
            }
        }
        try communicator.broadcast(&states, root: 0)
        return states.map { FinalTestState(rawValue: $0) ?? .nothing }
    }
}
