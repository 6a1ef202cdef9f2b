#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RunOutputs
import Evaluation
import Checkpointing
import RunConfig
import Synchronization
import SwiftMPI

/// Ends the whole job when this rank has made no progress for `limit` seconds: a peer that died,
/// hangs (SIGSTOP, a stuck node) or left early would otherwise keep it waiting forever in some
/// collective. The training loop beats at every step, the evaluation at every batch; a thread of its
/// own checks once a second and, past the limit, prints one line and calls MPI_Abort, which ends
/// every rank (mpirun's exit code is then non-zero). `distributed.stall_abort_s`; 0 turns it off.
final class ProgressWatchdog: Sendable {
    private let limit: Double
    private let rank: Int
    private let lastBeat = Atomic<Int64>(0)
    private let running = Atomic<Bool>(true)

    init(limit: Double, rank: Int) {
        self.limit = limit
        self.rank = rank
        beat()
        let thread = Thread { [self] in watch() }
        thread.name = "multimix-watchdog"
        thread.start()
    }

    /// This rank made progress now.
    func beat() { lastBeat.store(Int64(DispatchTime.now().uptimeNanoseconds), ordering: .relaxed) }

    /// Stops watching (the thread ends within a second).
    func stop() { running.store(false, ordering: .relaxed) }

    private func watch() {
        while running.load(ordering: .relaxed) {
            sleep(1)
            let idle = Double(Int64(DispatchTime.now().uptimeNanoseconds) - lastBeat.load(ordering: .relaxed)) * 1e-9
            guard running.load(ordering: .relaxed), idle >= limit else { continue }
            let line = "multimix: error: rank \(rank): no progress for \(Int(idle.rounded())) s (distributed.stall_abort_s = \(Int(limit))): another rank died, hangs or left early; ending the job (the last checkpoint is intact: --resume auto)\n"
            FileHandle.standardError.write(Data(line.utf8))
            MPI.abort(code: 1)
        }
    }
}
