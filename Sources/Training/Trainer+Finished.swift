import Checkpointing
import Distributed
import Foundation
import RunOutputs
import Evaluation
import RunConfig
import SwiftMPI

extension Trainer {
    /// Rank 0 writes the run folder's ``FinishedMarker``; every rank learns whether it worked.
    /// `wallSeconds` is kept to the millisecond, with the processor it was measured on.
    public func markFinished(wallSeconds: Double) throws {
        try consensus.rootDecides("writing \(FinishedMarker.fileName)") {
            try FinishedMarker(configHash: FinishedMarker.configHash(config), epoch: position.epoch, step: position.globalStep,
                               wallSeconds: (wallSeconds * 1000).rounded() / 1000, worldSize: communicator.size,
                               cpu: CPUDescription.current.description).write(runFolder: runDirectory)
        }
    }
}
