import Foundation

/// The one OpenMP setting that cannot be made from inside a running process.
///
/// GNU OpenMP reads its wait policy from `OMP_WAIT_POLICY` once, when the library is loaded, before
/// `main`. Its default lets an idle pool thread spin for milliseconds before it sleeps: on a machine
/// whose cores are also busy (other ranks, other jobs, the data loader's thread) those spinning threads
/// take the cores the working ones need, and a ResNet-20 training step measured 2-4x slower than with
/// `passive`, while on an idle machine the two policies measured the same (`multimix bench train`,
/// docs/performance.md, "Performance"). So when the environment names no policy, `multimix` starts itself again, at
/// once and with the same PID, arguments and environment plus `OMP_WAIT_POLICY=passive`: users need
/// not know the variable, and a policy they set (`active` included) is kept.
enum OpenMPWaitPolicy {
    static let variable = "OMP_WAIT_POLICY"
    /// Set beside the policy when `multimix` chose it, so that `bench` can say where it came from.
    static let chosenMarker = "MULTIMIX_CHOSE_OMP_WAIT_POLICY"

    /// Replaces this process with itself under `OMP_WAIT_POLICY=passive` unless the variable is set.
    /// Returns when it is set, or when the restart is impossible (no /proc: then libgomp's default
    /// stays, which costs speed on a busy machine and nothing else).
    static func restartUnlessSet() {
        guard getenv(variable) == nil else { return }
        setenv(variable, "passive", 1)
        setenv(chosenMarker, "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv(variable)
        unsetenv(chosenMarker)
    }

    /// The policy in effect and who chose it, for benchmark output: "passive (chosen by multimix)",
    /// "active (environment)", or "unset (libgomp's default: spin, then sleep)".
    static var inEffect: String {
        let environment = ProcessInfo.processInfo.environment
        guard let policy = environment[variable] else { return "unset (libgomp's default: spin, then sleep)" }
        return environment[chosenMarker] == "1" ? "\(policy) (chosen by multimix)" : "\(policy) (environment)"
    }
}
