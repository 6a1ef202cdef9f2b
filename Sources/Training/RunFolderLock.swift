#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Checkpointing
import Evaluation
import RunConfig
import RunOutputs
import SafeFiles

/// One job per run folder: rank 0 holds an exclusive `flock` on `RUN/.lock` while it trains, so a
/// second job started on the same folder stops at once instead of interleaving its checkpoints and
/// metrics with the first's. The kernel drops the lock when the process ends, however it ends: a
/// crashed job never leaves a stale lock behind. The file holds the holder's pid for the message.
final class RunFolderLock {
    private let descriptor: Int32

    /// Takes the lock on `folder` (which exists), or throws naming the job that holds it.
    init(folder: URL) throws {
        let path = folder.appendingPathComponent(".lock").path
        // Never through a link planted at RUN/.lock (the pid would be written into its target).
        descriptor = try SafeFile.open(path, flags: O_RDWR | O_CREAT)
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? SafeFile.readText(path, maximumBytes: 1024, fix: ""))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(descriptor)
            throw TrainingError.cannotStart("\(folder.path) is in use by another job (process \(holder)); wait for it to end, or give this run another --run-dir")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit { close(descriptor) }
}
