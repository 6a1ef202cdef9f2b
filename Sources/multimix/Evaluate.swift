import ArgumentParser
import Checkpointing
import Datasets
import Evaluation
import Foundation
import Models
import RunConfig
import SwiftMPI
import Tensors
import Training

/// `multimix eval`: the trainer's evaluation, offline, from a checkpoint.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint: top-1/top-5 accuracy, NLL, ECE, alignment, uniformity, and OOD detection.",
        discussion: """
            The model, dataset and data root come from the checkpoint's state.json (override the root \
            with --data-root). Runs on one process, or on several under mpirun (the test set is split \
            over the ranks and the counts reduced).
            Example: multimix eval --checkpoint runs/NAME/checkpoints/step-000460 --ood cifar100 --json
            """
    )

    @Option(help: "A checkpoint folder (runs/NAME/checkpoints/step-…), or a run's checkpoints folder for its latest.")
    var checkpoint: String

    @Option(help: """
        An out-of-distribution set, repeatable: a built-in dataset (fashion-mnist, mnist, cifar10, cifar100), \
        optionally NAME=ROOT, or NAME=ROOT for a folder of images (ROOT/*.jpg or ROOT/ANY/*.jpg); \
        metrics ood_NAME_auroc, … (ood_auroc, … for a single built-in dataset).
        """)
    var ood: [String] = []

    @Option(help: "Where the in-distribution dataset is, if not at the checkpoint's data.root.")
    var dataRoot: String?

    @Option(help: "Images per forward pass.")
    var batchSize = 500

    @Option(help: "Threads for oneDNN, OpenBLAS and the engine's loops.")
    var threads = 1

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1 (got \(batchSize)).") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1 (got \(threads)).") }
        guard batchSize <= 65_536, threads <= ComputeThreads.maximum else {
            throw ValidationError("--batch-size must be at most 65536 and --threads at most \(ComputeThreads.maximum) (got \(batchSize), \(threads)).")
        }
        do {
            _ = try EvalConfig.OOD.parseCommandLine(ood)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        do {
            try evaluate()
        } catch let error as ValidationError {
            throw error
        } catch {
            JobExit.report(error)
            throw ExitCode(JobExit.failure)
        }
    }

    private func evaluate() throws {
        // Everything that can be wrong with the inputs is found before MPI starts.
        var folder = URL(fileURLWithPath: checkpoint)
        // A run's checkpoints/ folder stands for its latest checkpoint (read only: nothing is created).
        if let latest = CheckpointStore.latest(in: folder) { folder = latest }
        let loaded = try CheckpointStore.load(folder)
        if let tensor = loaded.firstNonFiniteModelTensor {
            throw CheckpointError(path: folder.appendingPathComponent("model.safetensors").path,
                                  problem: "\(tensor) holds NaN or infinite values (the run diverged before this checkpoint)",
                                  fix: "evaluate an earlier checkpoint, or train again with a lower optimizer.lr")
        }
        let config = loaded.state.config
        let data = try config.makeData(root: dataRoot)
        guard data.testCount != nil else {
            throw ValidationError("\(data.source.root) has no \(config.data.dataset == .imageFolder ? "val/ folder" : config.data.dataset == .shards ? "val shards" : "test split") to evaluate on")
        }
        let oodSets = try EvalConfig.OOD.parseCommandLine(ood).map { set in
            try Evaluator.outOfDistributionSet(set, data: data, key: "--ood \(set.name.isEmpty ? set.dataset.rawValue : set.name)")
        }

        try MPI.initialize(threadLevel: .funneled)
        let world = try Communicator.world
        ComputeThreads.set(threads)
        // The model as training built it (its initial values are replaced by the checkpoint's).
        let model = RunSetup.model(config, inputChannels: data.inputShape.channels, classCount: data.classCount,
                                   makeConvolution: { ConvolutionBackend.oneDNN.makeKernel($0) })
        try loaded.restoreParameters(into: model.arena, modelName: config.model.name.rawValue)
        let metrics = try Evaluator(model: model, communicator: world, batchSize: batchSize)
            .evaluate(data, outOfDistributionSets: oodSets)
        if world.rank == 0 {
            if json {
                // JSON has no NaN: a non-finite metric is null (as in metrics.jsonl's readers).
                let object: [String: Any] = metrics.merging(["step": Double(loaded.state.step), "epoch": Double(loaded.state.epoch)]) { a, _ in a }
                    .mapValues { $0.isFinite ? $0 as Any : NSNull() }
                let text = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: text, as: UTF8.self))
            } else {
                print("checkpoint \(folder.path) (step \(loaded.state.step), \(config.model.name.rawValue) on \(config.data.dataset.rawValue))")
                for name in metrics.keys.sorted() { print(String(format: "  %-14@ %.4f", name, metrics[name]!)) }
            }
        }
        try MPI.finalize()
        let nonFinite = metrics.filter { !$0.value.isFinite }.keys.sorted()
        if !nonFinite.isEmpty {
            throw CheckpointError(path: folder.path, problem: "the evaluation gave non-finite \(nonFinite.joined(separator: ", "))",
                                  fix: "the model's outputs are not finite: evaluate an earlier checkpoint")
        }
    }
}
