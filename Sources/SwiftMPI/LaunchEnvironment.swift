import CMPI

/// What a rank's launch gave it to compute with: the ranks sharing its node, the CPUs it may run on,
/// and Slurm's CPUs per task when the job asked for them. ``threadsPerRank`` turns that into the size
/// of a rank's compute pool, so that no launch script has to work it out (mpirun, srun and a hostfile
/// of several nodes all end up here the same way).
///
///     let launch = try LaunchEnvironment.detect(world)   // every rank calls it
///     launch.threadsPerRank    // 2 ranks on a node of 16 CPUs: 8; under `sbatch --cpus-per-task=4`: 4
public struct LaunchEnvironment: Equatable, Sendable {
    /// Ranks of the job on this process's node (this one included).
    public var ranksOnNode: Int
    /// CPUs this process may run on (its affinity mask: what `taskset`, cgroups or Slurm left it).
    public var usableCPUs: Int
    /// Slurm's `SLURM_CPUS_PER_TASK` (`--cpus-per-task`), when set to a whole number ≥ 1.
    public var slurmCPUsPerTask: Int?

    public init(ranksOnNode: Int, usableCPUs: Int, slurmCPUsPerTask: Int? = nil) {
        self.ranksOnNode = ranksOnNode
        self.usableCPUs = usableCPUs
        self.slurmCPUsPerTask = slurmCPUsPerTask
    }

    /// Compute threads for each rank: Slurm's CPUs per task when the job names them, else this
    /// node's usable CPUs shared between its ranks; at least 1 (more ranks than CPUs oversubscribe).
    public var threadsPerRank: Int {
        if let slurmCPUsPerTask { return slurmCPUsPerTask }
        return max(1, usableCPUs / max(1, ranksOnNode))
    }

    /// Where ``threadsPerRank`` comes from, for a log line: "2 CPUs / 2 ranks on this node" or
    /// "Slurm's --cpus-per-task".
    public var threadsSource: String {
        slurmCPUsPerTask == nil ? "\(usableCPUs) CPUs / \(ranksOnNode) ranks on this node" : "Slurm's --cpus-per-task"
    }

    /// This rank's launch environment. Collective: every rank of `communicator` must call it (the
    /// ranks on a node are counted with ``Communicator/splitByNode()``).
    ///
    /// - Parameter environment: the process's environment variables (read: `SLURM_CPUS_PER_TASK`).
    /// - Throws: `MPIError` if MPI fails.
    public static func detect(_ communicator: Communicator, environment: [String: String]) throws -> LaunchEnvironment {
        let node = try communicator.splitByNode()
        return LaunchEnvironment(ranksOnNode: node.size, usableCPUs: usableCPUs(),
                                 slurmCPUsPerTask: slurmCPUsPerTask(environment))
    }

    /// Whether progress is drawn as a live line (rewritten in place) rather than plain lines: the
    /// one rule for every command. `MULTIMIX_PROGRESS=live` or `lines` decides; otherwise live only
    /// when stdout is a terminal outside an MPI or Slurm job (mpirun hands every rank a
    /// pseudo-terminal, so a rank cannot tell whether the person at the other end has one:
    /// `launch/train.sh` sets the variable from its own terminal).
    public static func showsLiveProgress(_ environment: [String: String], stdoutIsTerminal: Bool) -> Bool {
        switch environment["MULTIMIX_PROGRESS"] {
        case "live": return true
        case "lines": return false
        default:
            let launched = environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMI_SIZE"] != nil
                || environment["SLURM_JOB_ID"] != nil
            return !launched && stdoutIsTerminal
        }
    }

    /// `SLURM_CPUS_PER_TASK` as a whole number ≥ 1; nil when unset or not such a number (Slurm sets
    /// it only when the job asked for `--cpus-per-task`).
    public static func slurmCPUsPerTask(_ environment: [String: String]) -> Int? {
        guard let text = environment["SLURM_CPUS_PER_TASK"], let value = Int(text), value >= 1 else { return nil }
        return value
    }

    /// The CPUs this process may run on: the bits set in its affinity mask (`sched_getaffinity`),
    /// or 1 if the mask cannot be read.
    public static func usableCPUs() -> Int {
        // 1024 words of 64 bits: 65536 CPUs, as many as Linux supports.
        var mask = [UInt64](repeating: 0, count: 1024)
        let written = mask.withUnsafeMutableBytes { cmpi_sched_getaffinity($0.count, $0.baseAddress) }
        guard written > 0 else { return 1 }
        return max(1, mask.reduce(0) { $0 + $1.nonzeroBitCount })
    }
}
