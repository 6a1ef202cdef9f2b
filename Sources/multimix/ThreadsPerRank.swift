import ArgumentParser
import Foundation
import RunConfig
import SwiftMPI
import Tensors
import Training

/// How `multimix train` sizes each rank's compute pool (`training.threads`), the one place that
/// decides it for every launcher (launch/train.sh, multinode.sh, slurm.sbatch, a bare mpirun or srun).
/// The first that applies wins:
///
///     --set training.threads=N    the command line
///     MULTIMIX_THREADS=N          the environment (laid over the config file like a --set before the others)
///     training.threads: N         the config file
///     the launch                  LaunchEnvironment.threadsPerRank: Slurm's --cpus-per-task, else this
///                                 node's usable CPUs / its ranks (2 ranks on 2 CPUs: 1), at least 1
///
/// The value chosen is the config's `training.threads`, written to the run's config.yaml as before;
/// it does not make another run (a resume, a study's finished marker and the ranks' agreement all
/// leave it out), so the same command resumes on a machine with other cores.
enum ThreadsPerRank {
    /// The environment variable that overrides the config file's `training.threads`.
    static let variable = "MULTIMIX_THREADS"

    /// `overrides` with `MULTIMIX_THREADS`, when set, as `training.threads=N` in front (the command
    /// line's own `--set training.threads` still wins). Throws a one-line error for a value that is
    /// not a whole number in [1, ComputeThreads.maximum].
    static func overrides(_ overrides: [String], environment: [String: String]) throws -> [String] {
        guard let text = environment[variable], !text.isEmpty else { return overrides }
        guard let threads = Int(text), (1...ComputeThreads.maximum).contains(threads) else {
            throw ValidationError("\(variable) must be a whole number from 1 to \(ComputeThreads.maximum) (got '\(text)'); "
                                  + "unset it to share this node's CPUs between its ranks")
        }
        return ["training.threads=\(threads)"] + overrides
    }

    /// Sets `config.training.threads` from the launch unless the config, a --set or MULTIMIX_THREADS
    /// `given` it, and returns the line rank 0 logs: `[train] 2 ranks x 1 threads (2 CPUs / 2 ranks on
    /// this node)`. Collective: every rank of `world` must call it.
    static func resolve(_ config: inout TrainingConfig, given: Bool, world: Communicator,
                        environment: [String: String]) throws -> String {
        let source: String
        if given {
            source = "training.threads"
        } else {
            let launch = try LaunchEnvironment.detect(world, environment: environment)
            config.training.threads = min(launch.threadsPerRank, ComputeThreads.maximum)
            source = launch.threadsSource
        }
        return "[train] \(world.size) ranks x \(config.training.threads) threads (\(source))"
    }
}
