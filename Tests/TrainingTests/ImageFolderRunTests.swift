import Checkpointing
import Evaluation
import Foundation
import RunOutputs
import TestSupport
import Training
import XCTest

/// `multimix train` on an image folder as users run it: 2 ranks under `mpirun`, JPEGs written by
/// `make_image_folder.py` from CIFAR-10, decoded with random resized crops by 2 workers per rank.
final class ImageFolderRunTests: XCTestCase {
    let multimix = MPIRun.executable("multimix")
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("image-folder-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    func config(_ name: String, root: String, epochs: Int = 2, batch: Int = 16, dataset: String = "image-folder",
                data extra: String = "", eval: String = "{every_epochs: 1}") throws -> String {
        let text = """
            name: \(name)
            seed: 5
            data: {dataset: \(dataset), root: \(root), image_size: 32, workers: 2, augment: {scale: [0.35, 1.0]}\(extra)}
            model: {name: resnet20, width: 0.25}
            mixing: {method: multimix, n: 64, alpha: 1.0, m: 2}
            optimizer: {lr: 0.05}
            training: {epochs: \(epochs), batch_size: \(batch), threads: 1, log_every_steps: 2}
            distributed: {check_every_steps: 1, stall_timeout_s: 60}
            eval: \(eval)
            checkpoint: {every_epochs: 1, keep: 3}

            """
        let url = folder.appendingPathComponent("\(name).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func train(_ config: String, run: URL, ranks: Int = 2, arguments: [String] = []) throws -> MPIRun.Result {
        try MPIRun.run(ranks: ranks, program: multimix, arguments: ["train", "--config", config, "--run-dir", run.path] + arguments,
                       timeout: 240, environment: ["MULTIMIX_PROGRESS": "lines"])
    }

    func trainableTensors(_ checkpoint: URL) throws -> [String: [Float]] {
        let (tensors, _) = try Safetensors.read(checkpoint.appendingPathComponent("model.safetensors"))
        return Dictionary(uniqueKeysWithValues: tensors.filter { !$0.name.contains("running_") }.map { ($0.name, $0.values) })
    }

    /// 200 training images (6 steps of 2 × 16 an epoch), 50 in val/, two OOD folders (PNGs nested in
    /// class folders, photo-sized JPEGs resized to 32 px): the run trains, checkpoints and evaluates;
    /// stopped after 8 steps and resumed, it ends bit for bit where the uninterrupted run does, with the
    /// same per-set OOD figures; `multimix eval` on its checkpoint gives the evaluation's top-1 exactly.
    func testTrainsResumesBitForBitAndEvaluatesOffline() throws {
        let root = try ImageFolderFixture.folder(size: 32, trainPerClass: 20, valPerClass: 5)
        let pngs = try ImageFolderFixture.folder(size: 32, trainPerClass: 1, valPerClass: 2, format: "png")
        let photos = try ImageFolderFixture.folder(size: 500, trainPerClass: 1, valPerClass: 1)
        let path = try config("folder", root: root, eval: "{every_epochs: 1, ood: [{name: pngs, dataset: image-folder, root: \(pngs)/val}, "
                              + "{name: photos, dataset: image-folder, root: \(photos)/train}]}")
        try assertResumesBitForBitAndEvaluatesOffline(path, stopAt: 8, lastStep: 12)
        let evaluations = try ["straight", "resumed"].map { run in
            try XCTUnwrap(MetricsLog.read(folder.appendingPathComponent("\(run)/metrics.jsonl")).last { $0.kind == .eval }).values
        }
        for set in ["pngs", "photos"] {
            for measure in ["auroc", "aupr_in", "aupr_out"] {
                let key = "ood_\(set)_\(measure)"
                XCTAssertTrue((0...1).contains(evaluations[0][key] ?? -1), "\(key) = \(String(describing: evaluations[0][key]))")
                XCTAssertEqual(evaluations[0][key], evaluations[1][key], "\(key): straight vs resumed")
            }
        }
    }

    /// Trains `path` straight, and stopped after `stopAt` steps then resumed: the checkpoints of
    /// `lastStep` hold the same parameters; `multimix eval` on the straight run gives its top-1.
    func assertResumesBitForBitAndEvaluatesOffline(_ path: String, stopAt: Int, lastStep: Int) throws {
        let straight = folder.appendingPathComponent("straight"), resumed = folder.appendingPathComponent("resumed")
        let first = try train(path, run: straight)
        XCTAssertEqual(first.status, 0, first.output)
        let stopped = try train(path, run: resumed, arguments: ["--max-steps", "\(stopAt)"])
        XCTAssertEqual(stopped.status, 0, stopped.output)
        let second = try train(path, run: resumed, arguments: ["--resume", "auto"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("resuming from"), second.output)
        let checkpoint = String(format: "checkpoints/step-%06d", lastStep)
        let a = try trainableTensors(straight.appendingPathComponent(checkpoint))
        let b = try trainableTensors(resumed.appendingPathComponent(checkpoint))
        XCTAssertFalse(a.isEmpty)
        for (name, values) in a { XCTAssertTrue(values == b[name], "\(name) differs after resuming") }

        let records = try MetricsLog.read(straight.appendingPathComponent("metrics.jsonl"))
        let online = try XCTUnwrap(records.last { $0.kind == .eval }).values
        XCTAssertTrue((0...1).contains(online[MetricName.top1] ?? -1))
        XCTAssertEqual(records.last { $0.kind == .train }?.values["bad_images"], 0)
        let offline = try MPIRun.launch([multimix, "eval", "--checkpoint", straight.appendingPathComponent("checkpoints").path, "--json"],
                                        timeout: 120)
        XCTAssertEqual(offline.status, 0, offline.output)
        let line = try XCTUnwrap(offline.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let values = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double])
        XCTAssertEqual(values[MetricName.top1], online[MetricName.top1], "top-1 counts are exact")
    }

    /// PyTorch on the checkpoint, reading val/ with Pillow and torchvision's evaluation transform
    /// (python/eval_checkpoint.py), gets `multimix eval`'s top-1 within 0.5 points (1000 images: at
    /// most 5 decided differently, where Pillow's 8-bit resampling steps round a near-tie the other way).
    func testPyTorchEvaluationWithPillowAgreesWithMultimixEval() throws {
        _ = try PythonReference.requireImages()
        let root = try ImageFolderFixture.folder(size: 32, trainPerClass: 100, valPerClass: 100)
        let run = folder.appendingPathComponent("parity")
        let trained = try train(try config("parity", root: root, epochs: 3), run: run)
        XCTAssertEqual(trained.status, 0, trained.output)
        let checkpoints = run.appendingPathComponent("checkpoints").path
        let ours = try MPIRun.launch([multimix, "eval", "--checkpoint", checkpoints, "--json"], timeout: 120)
        XCTAssertEqual(ours.status, 0, ours.output)
        let theirs = try PythonReference.run([PythonReference.folder.appendingPathComponent("eval_checkpoint.py").path, checkpoints, "--json"])
        XCTAssertEqual(theirs.status, 0, theirs.output)
        func metric(_ name: String, _ output: String) throws -> Double {
            let line = try XCTUnwrap(output.split(separator: "\n").last { $0.hasPrefix("{") })
            return try XCTUnwrap((JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?[name] as? Double)
        }
        let (a, b) = (try metric("top1", ours.output), try metric("top1", theirs.output))
        XCTAssertGreaterThan(a, 0.15, "the model learnt something (chance is 0.1), so the comparison means something")
        XCTAssertEqual(a, b, accuracy: 0.005, "multimix eval \(a), PyTorch with Pillow \(b)")
        // Every logit, not only the argmax: the mean NLL within 1%.
        let (nllA, nllB) = (try metric("nll", ours.output), try metric("nll", theirs.output))
        XCTAssertEqual(nllA, nllB, accuracy: 0.01 * nllA, "NLL: multimix eval \(nllA), PyTorch with Pillow \(nllB)")
        print("image-folder parity: top-1 \(a) (multimix) vs \(b) (PyTorch + Pillow); NLL \(nllA) vs \(nllB)")
    }

    /// A truncated JPEG among 200 training images (every image is read each epoch: 5 steps of 2 × 20):
    /// `on_bad_image: error` stops with exit 6, one line naming the file, and a checkpoint of the last
    /// completed step that resumes once the file is gone; `skip` trains through, counting it.
    func testABadImageStopsTheRunWithACheckpointOrIsSkipped() throws {
        let source = try ImageFolderFixture.folder(size: 32, trainPerClass: 20, valPerClass: 2, corrupt: true)
        let root = folder.appendingPathComponent("photos").path
        XCTAssertEqual(try MPIRun.launch(["cp", "-r", source, root]).status, 0)
        try FileManager.default.removeItem(atPath: root + "/bad")
        try FileManager.default.removeItem(atPath: root + "/train/airplane/00000.jpg")
        try FileManager.default.copyItem(atPath: source + "/bad/airplane/truncated.jpg", toPath: root + "/train/airplane/zz-truncated.jpg")

        let stopping = try config("stop", root: root, epochs: 1, batch: 20)
        let run = folder.appendingPathComponent("stop")
        let stopped = try train(stopping, run: run)
        XCTAssertEqual(stopped.status, 6, stopped.output)
        let errors = stopped.output.split(separator: "\n").filter { $0.contains("multimix: error:") && $0.contains("zz-truncated.jpg") }
        XCTAssertFalse(errors.isEmpty, stopped.output)
        XCTAssertTrue(errors.allSatisfy { $0.contains("Premature end of JPEG") && $0.contains("data.on_bad_image: skip") }, "\(errors)")
        XCTAssertTrue(stopped.output.contains("checkpoint written at step"), stopped.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/latest").path))
        try FileManager.default.removeItem(atPath: root + "/train/airplane/zz-truncated.jpg")
        try FileManager.default.copyItem(atPath: source + "/train/airplane/00000.jpg", toPath: root + "/train/airplane/00000.jpg")
        let resumed = try train(stopping, run: run, arguments: ["--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.output)

        try FileManager.default.copyItem(atPath: source + "/bad/airplane/truncated.jpg", toPath: root + "/train/airplane/zz-truncated.jpg")
        try FileManager.default.removeItem(atPath: root + "/train/airplane/00000.jpg")
        let skipping = try config("skip", root: root, epochs: 2, batch: 20, data: ", on_bad_image: skip")
        let skipRun = folder.appendingPathComponent("skip")
        let skipped = try train(skipping, run: skipRun)
        XCTAssertEqual(skipped.status, 0, skipped.output)
        let last = try MetricsLog.read(skipRun.appendingPathComponent("metrics.jsonl")).last { $0.kind == .train }
        XCTAssertEqual(last?.values["bad_images"], 2, "read once an epoch, replaced and counted each time")
    }

    /// `multimix bench data` prints one JSON line over the files it read; `data inspect` decodes every
    /// file and prints the folder's own normalisation; wrong flags are one line each.
    func testBenchDataAndInspectCommands() throws {
        let root = try ImageFolderFixture.folder(size: 32, trainPerClass: 20, valPerClass: 5)
        let bench = try MPIRun.launch([multimix, "bench", "data", "--root", root, "--image-size", "48", "--limit", "30",
                                       "--rounds", "1", "--workers", "2", "--json"])
        XCTAssertEqual(bench.status, 0, bench.output)
        let line = try XCTUnwrap(bench.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let values = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(values["images"] as? Int, 30)
        XCTAssertEqual(values["workers"] as? Int, 2)
        XCTAssertGreaterThan(values["images_per_second_per_core"] as? Double ?? 0, 0)
        for (flags, expected) in [(["--workers", "0"], "--workers must be in [1, 64]"), (["--image-size", "2"], "--image-size must be in [8, 1024]")] {
            let refused = try MPIRun.launch([multimix, "bench", "data", "--root", root] + flags)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.output.contains(expected), refused.output)
        }
        let inspect = try MPIRun.launch([multimix, "data", "inspect", root])
        XCTAssertEqual(inspect.status, 0, inspect.output)
        XCTAssertTrue(inspect.output.contains("decoding 250/250 images (100%)"), inspect.output)
        XCTAssertTrue(inspect.output.contains("normalize {mean: ["), inspect.output)
        XCTAssertTrue(inspect.output.contains("bad      0 files"), inspect.output)
    }

    /// Wrong image-folder settings are refused before any work, each in one line naming the key.
    func testUnusableFoldersAndSettingsAreRefusedInOneLine() throws {
        let empty = folder.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty + "/train/cat", withIntermediateDirectories: true)
        let path = try config("refused", root: empty)
        let cases: [([String], String)] = [
            (["--set", "data.root=\(folder.appendingPathComponent("missing").path)"], "is not a folder"),
            ([], "train/cat: no images"),
            (["--set", "data.image_size=4"], "data.image_size: 4 is not allowed"),
            (["--set", "data.augment.ratio=[2, 1]"], "data.augment.ratio"),
            (["--set", "data.on_bad_image=ignore"], "data.on_bad_image: \"ignore\" is not a bad-image policy"),
        ]
        try assertRefused(path, cases)
    }

    /// Each `--set` list is refused by `multimix train` on `path`, its first error line holding the text.
    func assertRefused(_ path: String, _ cases: [([String], String)]) throws {
        for (arguments, expected) in cases {
            let result = try train(path, run: folder.appendingPathComponent("refused"), arguments: arguments)
            XCTAssertNotEqual(result.status, 0, result.output)
            let errors = result.output.split(separator: "\n").filter { $0.contains("multimix: error:") }
            XCTAssertTrue(errors.first?.contains(expected) ?? false, "expected '\(expected)' in:\n\(result.output)")
        }
    }
}
