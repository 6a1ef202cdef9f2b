import Checkpointing
import Datasets
import Foundation
import Layers
import Models
import RunConfig
import Tensors
import TestSupport
import Training
import XCTest

/// The checkpoints are PyTorch's: python/multimix_models.py defines every model this tool trains with
/// the checkpoint's tensor names, and python/eval_checkpoint.py evaluates a checkpoint as
/// `multimix eval` does. Both run in the Python of launch/test.sh (``PythonReference``): these tests
/// fail in CI without it and are skipped elsewhere.
final class PyTorchInteropTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// The lines of `output` that are JSON objects.
    func jsonObjects(_ output: String) -> [[String: Any]] {
        output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Every model name (small widths; resnet20 with the 1- and the 3-channel stem), saved through the
    /// trainer's checkpoint path after 3 training-mode forwards (so the running statistics are not the
    /// initial ones and num_batches_tracked is 3), loads in PyTorch with `strict=True`, and PyTorch's
    /// eval-mode logits on the same input match ours.
    ///
    /// Tolerance 1e-5 of the largest |logit| (measured: 8e-8 to 7e-7, printed by the test):
    /// both sides compute in float32, with other summation orders in convolutions (oneDNN's against
    /// PyTorch's) and BatchNorm folded into scale and shift here, so each of up to 110 layers adds
    /// a few ulps of relative error; a wrong tensor layout or architecture is off by O(1).
    func testEveryModelLoadsStrictlyInPyTorchWithTheSameLogits() throws {
        let cases: [(ModelConfig.Name, Double, DatasetName)] = [
            (.resnet20, 0.25, .fashionMNIST), (.resnet20, 0.25, .cifar10), (.resnet32, 0.25, .cifar10),
            (.resnet56, 0.25, .cifar100), (.resnet110, 0.25, .cifar10), (.preactresnet18, 1.0 / 16, .cifar100),
            (.preactresnet34, 1.0 / 16, .cifar10), (.wrn16_8, 1.0 / 16, .cifar10), (.resnet18, 1.0 / 16, .cifar10),
            (.resnet50, 1.0 / 16, .cifar100), (.preactresnet18AlignMixup, 1.0 / 16, .cifar10),
        ]
        XCTAssertEqual(Set(cases.map(\.0.rawValue)), Set(ResNetSpecification.names), "every model is checked")
        _ = try PythonReference.require()
        var folders: [String] = []
        for (index, (name, width, dataset)) in cases.enumerated() {
            var config = TrainingConfig()
            config.name = "interop-\(name.rawValue)"
            config.model.name = name
            config.model.width = width
            config.data.dataset = DatasetChoice(dataset)
            let shape = dataset.imageShape
            let model = ResNet(name: name, inputChannels: shape.channels, classCount: dataset.classCount,
                               width: width, seed: UInt64(index))
            let x = FiniteDifferences.randomTensor([4, shape.height, shape.width, shape.channels], seed: UInt64(100 + index))
            model.isTraining = true
            for _ in 0..<3 { _ = model.classify(model.pool(model.encode(x))) }
            model.isTraining = false
            let logits = model.classify(model.pool(model.encode(x))).values

            let store = try CheckpointStore(folder: folder.appendingPathComponent("\(index)-\(name.rawValue)"), keep: 1)
            var tracked: Int64 = 3
            let checkpoint = try withUnsafePointer(to: &tracked) {
                try store.save(step: 3, epoch: 0, worldSize: 1, config: config, metrics: [:],
                               model: Checkpoint.modelTensors(model.arena, batchesTracked: $0), optimizer: [])
            }
            _ = try x.values.withUnsafeBufferPointer { input in
                try logits.withUnsafeBufferPointer { output in
                    try Safetensors.write([TensorSlice(name: "input", shape: x.shape, values: input),
                                           TensorSlice(name: "logits", shape: [4, dataset.classCount], values: output)],
                                          to: checkpoint.appendingPathComponent("reference.safetensors"))
                }
            }
            folders.append(checkpoint.path)
        }

        let result = try PythonReference.run(["-c", """
            import json, sys, torch
            from safetensors.torch import load_file
            from multimix_models import load_checkpoint
            torch.set_num_threads(1)
            for folder in sys.argv[1:]:
                model, state = load_checkpoint(folder)   # load_state_dict(..., strict=True)
                reference = load_file(folder + "/reference.safetensors")
                with torch.no_grad():
                    logits = model(reference["input"].permute(0, 3, 1, 2))
                tracked = {int(v) for k, v in model.state_dict().items() if k.endswith("num_batches_tracked")}
                print(json.dumps({"model": state["config"]["model"]["name"], "folder": folder,
                                  "difference": float((logits - reference["logits"]).abs().max()),
                                  "scale": float(reference["logits"].abs().max()), "tracked": sorted(tracked)}))
            """] + folders, timeout: 600)
        XCTAssertEqual(result.status, 0, result.output)
        let lines = jsonObjects(result.output)
        XCTAssertEqual(lines.count, cases.count, result.output)
        for line in lines {
            let difference = line["difference"] as? Double ?? .infinity, scale = line["scale"] as? Double ?? 0
            XCTAssertLessThanOrEqual(difference, 1e-5 * max(scale, 1), "\(line)")
            XCTAssertEqual(line["tracked"] as? [Int], [3], "\(line)")
        }
        print("PyTorch logits against ours (largest |difference| / largest |logit|): "
              + lines.map { "\($0["model"]!) \(String(format: "%.1e", ($0["difference"] as? Double ?? 0) / max($0["scale"] as? Double ?? 1, 1)))" }.joined(separator: ", "))
    }

    /// A short real run (1 rank, ResNet-20 at width 1/4, 512 Fashion-MNIST images, 2 epochs), its
    /// checkpoint evaluated by `multimix eval` and by python/eval_checkpoint.py (PyTorch, the same
    /// data read and normalised in Python): the same number of test images correct, exactly, and the
    /// same NLL to 1e-6 (measured: 3e-9; the logits differ in the last float32 bits, see the test above).
    func testPyTorchReproducesEvalTopOneExactly() throws {
        let run = try Repository.runFolderWithFashionMNIST(prefix: "interop-run")
        defer { try? FileManager.default.removeItem(at: run) }
        _ = try PythonReference.require()
        let config = folder.appendingPathComponent("tiny.yaml")
        try """
            name: interop
            seed: 11
            data: {dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: 512, augment: {crop_padding: 0, horizontal_flip: false}}
            model: {name: resnet20, width: 0.25}
            mixing: {method: erm}
            optimizer: {lr: 0.05, momentum: 0.9, weight_decay: 0.0001}
            training: {epochs: 2, batch_size: 32, threads: 1, log_every_steps: 8}
            eval: {every_epochs: 100}
            checkpoint: {every_epochs: 1, keep: 1}

            """.write(to: config, atomically: true, encoding: .utf8)
        let multimix = MPIRun.executable("multimix")
        let trained = try MPIRun.run(ranks: 1, program: multimix, arguments: ["train", "--config", config.path, "--run-dir", run.path],
                                     timeout: 240, environment: ["MULTIMIX_PROGRESS": "lines"])
        XCTAssertEqual(trained.status, 0, trained.output)

        let evaluated = try MPIRun.launch([multimix, "eval", "--checkpoint", run.appendingPathComponent("checkpoints").path, "--json"],
                                          timeout: 240)
        XCTAssertEqual(evaluated.status, 0, evaluated.output)
        let ours = try XCTUnwrap(jsonObjects(evaluated.output).last, evaluated.output)

        let python = try PythonReference.run([PythonReference.folder.appendingPathComponent("eval_checkpoint.py").path, run.path, "--json"])
        XCTAssertEqual(python.status, 0, python.output)
        let theirs = try XCTUnwrap(jsonObjects(python.output).last, python.output)

        let count = try XCTUnwrap(theirs["count"] as? Int)
        XCTAssertEqual(count, 10_000)
        let ourTop1 = try XCTUnwrap(ours["top1"] as? Double), theirCorrect = try XCTUnwrap(theirs["correct"] as? Int)
        let ourCorrect = Int((ourTop1 * Double(count)).rounded())
        XCTAssertEqual(ourCorrect, theirCorrect, "multimix eval: \(ours)\nPyTorch: \(theirs)")
        XCTAssertGreaterThan(ourCorrect, 2_000, "the run learned something (chance is 1,000)")
        XCTAssertEqual(ours["step"] as? Double, Double(theirs["step"] as? Int ?? -1))
        let ourNLL = try XCTUnwrap(ours["nll"] as? Double), theirNLL = try XCTUnwrap(theirs["nll"] as? Double)
        XCTAssertEqual(ourNLL, theirNLL, accuracy: 1e-6 * max(1, ourNLL), "multimix eval: \(ours)\nPyTorch: \(theirs)")
        XCTAssertEqual(ours["top5"] as? Double ?? -1, theirs["top5"] as? Double ?? -2, accuracy: 2e-4)
        print("multimix eval and PyTorch on \(theirs["checkpoint"] ?? ""): \(ourCorrect) and \(theirCorrect) of \(count) correct, NLL \(ourNLL) and \(theirNLL)")
    }
}
