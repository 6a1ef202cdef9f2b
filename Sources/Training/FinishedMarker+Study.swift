import Checkpointing
import Distributed
import Foundation
import RunConfig
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
                guard marker.configHash == (try FinishedMarker.configHash(run.config)) else {
                    throw TrainingError.cannotStart("\(run.folder.path) finished with another config than the study now gives it (\(FinishedMarker.fileName) has config_hash \(marker.configHash.prefix(12))…); delete that folder to train it again, or give the study another name")
                }
                finished[index] = 1
            }
        }
        try communicator.broadcast(&finished, root: 0)
        return finished.map { $0 != 0 }
    }
}
