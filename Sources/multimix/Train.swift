import ArgumentParser
import Datasets
import Distributed
import Foundation
import RunConfig
import RunOutputs
import SwiftMPI
import Tensors
import Training

/// `multimix train`: the data-parallel trainer, one process per rank under mpirun (or srun).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model with MultiMix (or a baseline) on every rank of an MPI job.",
        discussion: """
            Every rank checks the config and the data before any MPI work. Rank 0 writes the run \
            folder: config.yaml, metrics.jsonl, tb/ (TensorBoard), checkpoints/ and report.html.
            Exit codes: 0 finished; 1 error (config, data, checkpoint, I/O); 2 bad command line; \
            3 non-finite loss or gradient; 4 ranks disagree (config or parameters); \
            75 stopped by SIGTERM/SIGUSR1 after writing a checkpoint (resume with --resume auto).
            Threads per rank: --set training.threads=N, else MULTIMIX_THREADS, else the config's \
            training.threads, else Slurm's --cpus-per-task, else this node's CPUs / its ranks (at least 1).
            Example: mpirun -np 2 multimix train --config configs/fashion-mnist-resnet20-multimix.yaml
            """
    )

    @Option(help: "The run's YAML config.")
    var config: String

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).")
    var overrides: [String] = []

    @Option(help: "The run folder (default: runs/NAME).")
    var runDir: String?

    @Option(help: "auto: continue from the newest good checkpoint; never: start fresh; or a checkpoint folder.")
    var resume = "auto"

    @Option(help: "Stop (with a checkpoint) after this many steps in all: for quick checks and tests.")
    var maxSteps: Int?

    @Option(help: "Convolution backend: onednn or im2col.")
    var convBackend = "onednn"

    @Flag(help: "Resume even if the config changes the run the checkpoint saved (optimizer.lr, data.train_subset, …); the changes are listed.")
    var allowConfigChange = false

    func validate() throws {
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1 (got \(maxSteps)).") }
        if let runDir { try Train.requireFolderName(runDir, flag: "--run-dir", rootAllowed: false) }
        guard ConvolutionBackend(rawValue: convBackend) != nil else {
            throw ValidationError("--conv-backend must be one of \(ConvolutionBackend.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(convBackend)').")
        }
    }

    func run() throws {
        // 1. Config and data, checked before any MPI work: a bad key fails every rank the same way.
        var resolved: TrainingConfig
        let threadsGiven: Bool
        let policy: ResumePolicy
        let environment = ProcessInfo.processInfo.environment
        do {
            let url = URL(fileURLWithPath: config)
            let overrides = try ThreadsPerRank.overrides(overrides, environment: environment)
            resolved = try TrainingConfig.load(contentsOf: url, overrides: overrides)
            threadsGiven = try TrainingConfig.setsKey("training.threads", contentsOf: url, overrides: overrides)
            policy = try Train.resumePolicy(resume)
            try Train.checkData(resolved)
        } catch {
            JobExit.fail(error)
        }

        // 2. MPI, the threads per rank (ThreadsPerRank), then the trainer.
        let world = Train.joinWorld()
        let runDirectory = URL(fileURLWithPath: runDir ?? "runs/\(resolved.name)")
        do {
            let threads = try ThreadsPerRank.resolve(&resolved, given: threadsGiven, world: world, environment: environment)
            let trainer = try Trainer(config: resolved, communicator: world, runDirectory: runDirectory, resume: policy,
                                      convolutionBackend: ConvolutionBackend(rawValue: convBackend)!, maxSteps: maxSteps,
                                      configChange: allowConfigChange ? .allow : .refuseForTrain)
            // Said once the trainer has started: a run that cannot start fails in one line.
            if world.rank == 0 { FileHandle.standardError.write(Data((threads + "\n").utf8)) }
            let outcome = try trainer.run()
            if world.rank == 0 { try? trainer.writeReport() }
            try MPI.finalize()
            switch outcome {
            case .completed(let checkpoint):
                if world.rank == 0 {
                    print("done: \(runDirectory.path)/report.html" + (checkpoint.map { ", last checkpoint \($0.path)" } ?? ""))
                }
                Foundation.exit(JobExit.success)
            case .preempted:
                Foundation.exit(JobExit.stopped)
            }
        } catch {
            JobExit.leave(after: error, world: world)
        }
    }

    static func resumePolicy(_ text: String) throws -> ResumePolicy {
        switch text {
        case "auto": return .auto
        case "never": return .never
        default:
            guard FileManager.default.fileExists(atPath: text) else {
                throw ValidationError("--resume: '\(text)' is neither auto, never nor an existing checkpoint folder")
            }
            return .path(text)
        }
    }

    /// The data the config names exists and has a training split (the full check happens as it loads).
    static func checkData(_ config: TrainingConfig) throws {
        guard let builtIn = config.data.dataset.builtIn else {
            // An image folder: its listing pass (in the trainer, on every rank) says what is wrong.
            guard ImageFolderListing.isFolder(config.data.root) else {
                throw ValidationError("data.root: \(config.data.root) is not a folder; point it at the folder holding train/CLASS/*.jpg (and val/CLASS/*.jpg)")
            }
            return
        }
        let source = DatasetSource(builtIn, root: config.data.root)
        let advice = builtIn.fetchAdvice(root: source.root)
        guard FileManager.default.fileExists(atPath: source.root) else {
            throw ValidationError("data.root: \(source.root) does not exist; \(advice)")
        }
        _ = try DatasetSource.sniff(source.root)
        guard source.availableSplits.contains(.train) else {
            throw ValidationError("data.root: \(source.root) holds no complete training split of \(config.data.dataset.rawValue); \(advice)")
        }
    }

    /// Initialises MPI and returns the world communicator (exit 1 if MPI cannot start).
    static func joinWorld() -> Communicator {
        do {
            try MPI.initialize(threadLevel: .funneled)
            return try Communicator.world
        } catch {
            JobExit.fail(error)
        }
    }

    /// Refuses an empty folder path (it would mean the current folder, silently) and, unless
    /// `rootAllowed`, the file system's root (a run's files would land in /).
    static func requireFolderName(_ path: String, flag: String, rootAllowed: Bool) throws {
        guard !path.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("\(flag) is empty; name a folder, e.g. \(flag) runs/my-run")
        }
        guard rootAllowed || URL(fileURLWithPath: path).standardizedFileURL.path != "/" else {
            throw ValidationError("\(flag) \(path) is the file system's root; name a folder of its own, e.g. \(flag) runs/my-run")
        }
    }
}
