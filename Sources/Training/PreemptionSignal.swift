#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// SIGTERM and SIGUSR1 (Slurm's preemption and time-limit warnings), SIGINT (Ctrl-C) and SIGHUP (a
/// closed terminal) ask the trainer to checkpoint at the next step boundary and exit cleanly. The
/// handler only sets a flag; the trainer polls it once per step and all ranks agree on it in the
/// step's small all-reduce, so they stop at the same step. A second SIGINT ends the process at once
/// (exit 130), as Ctrl-C twice does elsewhere.
public enum PreemptionSignal {
    /// Installs the handlers for SIGTERM, SIGUSR1, SIGINT and SIGHUP.
    public static func install() {
        // Touch the flag first: a global is initialised lazily, and that must not happen in a handler.
        _ = requested.load(ordering: .relaxed)
        for number in [SIGTERM, SIGUSR1, SIGINT, SIGHUP] { signal(number, preemptionHandler) }
    }

    /// Whether a signal arrived since start-up (or since `reset`).
    public static var isRequested: Bool { signalNumber != 0 }

    /// The signal that arrived (0: none).
    public static var signalNumber: Int32 { requested.load(ordering: .relaxed) }

    /// Forgets an earlier signal (tests).
    public static func reset() { requested.store(0, ordering: .relaxed) }

    /// The last signal number, written by the handler and read by the training loop: a lock-free
    /// atomic, so safe to touch from a signal handler.
    fileprivate static let requested = Atomic<Int32>(0)
}

private func preemptionHandler(_ signal: Int32) {
    if signal == SIGINT && PreemptionSignal.requested.load(ordering: .relaxed) == SIGINT { _exit(130) }
    PreemptionSignal.requested.store(signal, ordering: .relaxed)
}
