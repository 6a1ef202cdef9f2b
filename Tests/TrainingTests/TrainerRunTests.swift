import Checkpointing
import Evaluation
import Foundation
import RunOutputs
import TestSupport
import Training
import XCTest

/// `multimix train` as users run it: real `mpirun` processes on real Fashion-MNIST (Debian's
/// dataset-fashion-mnist), small enough to take seconds: 512 training images, ResNet-20 at width
/// 1/4, 32 images per rank and step.
final class TrainerRunTests: XCTestCase {
    let multimix = MPIRun.executable("multimix")
    var folder: URL!

    override func setUpWithError() throws {
        folder = try Repository.runFolderWithFashionMNIST(prefix: "trainer")
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// A tiny config written to the test folder. `replacing` swaps whole top-level sections
    /// (`["optimizer": "{lr: -1}"]`); `extra` lines are appended as they are.
    func config(_ name: String = "tiny", method: String = "multimix", epochs: Int = 2,
                replacing: [String: String] = [:], extra: String = "") throws -> String {
        let sections: [(String, String)] = [
            ("name", name),
            ("seed", "7"),
            ("data", "{dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: 512, augment: {crop_padding: 0, horizontal_flip: false}}"),
            ("model", "{name: resnet20, width: 0.25}"),
            ("mixing", "{method: \(method), n: 64, alpha: [0.5, 2.0], probability: 1.0}"),
            ("optimizer", "{lr: 0.05, momentum: 0.9, weight_decay: 0.0001}"),
            ("schedule", "{kind: cosine}"),
            ("training", "{epochs: \(epochs), batch_size: 32, threads: 1, log_every_steps: 2}"),
            ("distributed", "{check_every_steps: 1, stall_timeout_s: 60}"),
            ("eval", "{every_epochs: 100}"),
            ("checkpoint", "{every_epochs: 1, keep: 3}"),
        ]
        let text = sections.map { "\($0.0): \(replacing[$0.0] ?? $0.1)" }.joined(separator: "\n") + "\n" + extra + "\n"
        let url = folder.appendingPathComponent("\(name).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func train(ranks: Int, config: String, runDirectory: URL, arguments: [String] = [], timeout: Double = 240) throws -> MPIRun.Result {
        try MPIRun.run(ranks: ranks, program: multimix,
                       arguments: ["train", "--config", config, "--run-dir", runDirectory.path] + arguments,
                       timeout: timeout, environment: ["MULTIMIX_PROGRESS": "lines"])
    }

    /// Starts a 2-rank `mpirun … multimix train` in the background (for tests that signal or kill it).
    func startTraining(config: String, runDirectory: URL) throws -> MPIRun.BackgroundJob {
        try MPIRun.start(ranks: 2, program: multimix, arguments: ["train", "--config", config, "--run-dir", runDirectory.path],
                         environment: ["MULTIMIX_PROGRESS": "lines"])
    }

    /// Waits (at most 120 s) until the run has logged its first metrics line: training is under way.
    func waitForFirstMetrics(_ run: URL) {
        let metrics = run.appendingPathComponent("metrics.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").isEmpty, "no metrics within 120 s")
    }

    /// The process ids of the 2 ranks training with `config` (not mpirun's, whose command line also names it).
    func rankProcesses(config: String) throws -> [Int32] {
        let ranks = try MPIRun.launch(["pgrep", "-f", "^\(multimix) train --config \(config)"]).output
            .split(separator: "\n").compactMap { Int32($0) }
        XCTAssertEqual(ranks.count, 2, "expected 2 rank processes, found \(ranks)")
        return ranks
    }

    /// The training losses logged in metrics.jsonl, in order.
    func loggedLosses(_ runDirectory: URL) throws -> [Double] {
        let text = try String(contentsOf: runDirectory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["kind"] as? String == "train" else { return nil }
            return object["loss"] as? Double
        }
    }

    // MARK: - Training

    /// 2 and 3 ranks (ERM, MultiMix, Dense MultiMix): the run finishes, the loss falls, and the
    /// parameter checksums agree at every step (check_every_steps: 1 stops a run whose ranks differ).
    func testShortMultiRankRunsLowerTheLossWithIdenticalParameters() throws {
        for (ranks, method) in [(2, "erm"), (2, "multimix"), (3, "dense-multimix")] {
            let run = folder.appendingPathComponent("\(method)-\(ranks)")
            let result = try train(ranks: ranks, config: try config(method: method, epochs: 3), runDirectory: run)
            XCTAssertEqual(result.status, 0, "\(method) on \(ranks) ranks:\n\(result.output)")
            let losses = try loggedLosses(run)
            XCTAssertGreaterThanOrEqual(losses.count, 4, result.output)
            let early = losses.prefix(2).reduce(0, +) / 2, late = losses.suffix(2).reduce(0, +) / 2
            XCTAssertLessThan(late, early - 0.1, "\(method) on \(ranks) ranks: loss \(losses)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("config.yaml").path))
        }
    }

    /// The recipe's keys under real mpirun: MultiMix on m-subsets with the ERM-matched scale and a
    /// clean loss, Dense MultiMix with softmax attention and a clean loss, both learning; a validation
    /// split held out (evaluated instead of the test split: 100 examples, not 10000) and the noise OOD
    /// sets scored, with the raw-embedding metrics beside the normalised ones.
    func testRecipeKeysTrainAndEvaluateOnTheValidationSplit() throws {
        for (method, mixing) in [("multimix", "m: 4, loss_scale: erm-matched, clean_loss_weight: 1"),
                                 ("dense-multimix", "m: 8, attention: softmax, clean_loss_weight: 0.5")] {
            let path = try config("recipe-\(method)", method: method, epochs: 2, replacing: [
                "mixing": "{method: \(method), n: 64, alpha: 1.0, \(mixing)}",
                "data": "{dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: 512, validation_subset: 100, augment: {crop_padding: 0, horizontal_flip: false}}",
                "eval": "{every_epochs: 1, split: validation, noise_ood_images: 50}",
            ])
            let run = folder.appendingPathComponent("recipe-\(method)")
            let result = try train(ranks: 2, config: path, runDirectory: run)
            XCTAssertEqual(result.status, 0, result.output)
            let losses = try loggedLosses(run)
            XCTAssertLessThan(losses.last!, losses.first!, "\(method): \(losses)")
            let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            let eval = try XCTUnwrap(text.split(separator: "\n").compactMap { line in
                try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            }.last { $0["kind"] as? String == "eval" })
            for key in ["top1", "alignment", "uniformity", "alignment_raw", "uniformity_raw", "alignment_rms", "uniformity_rms", "embedding_norm",
                        "ood_gaussian_auroc", "ood_gaussian_aupr_in", "ood_uniform_auroc", "ood_uniform_aupr_out"] {
                XCTAssertNotNil(eval[key] as? Double, "\(method): \(key) missing from \(eval)")
            }
            XCTAssertNil(eval["ood_auroc"], "no eval.ood dataset was configured")
            // 100 validation examples: top-1 is a multiple of 1/100.
            let top1 = try XCTUnwrap(eval["top1"] as? Double)
            XCTAssertEqual(top1 * 100, (top1 * 100).rounded(), accuracy: 1e-6)
        }
    }

    /// Stopped mid-epoch and resumed, a run ends with exactly the tensors of the run that never
    /// stopped (same ranks): same batches, mixing draws, momentum and learning rates, and the same
    /// BatchNorm running statistics (each rank's own until the epoch's end, not their average at the
    /// stop). Every tensor of both files and every metric logged after the stop are compared.
    func testResumedRunEqualsTheUninterruptedRunBitForBit() throws {
        try assertResumeIsBitExact(config: try config(epochs: 2), tag: "")
    }

    /// The same with the authors' alternation (`probability: 0.5, fallback: mixup`): which steps mix
    /// embeddings and the fallback's λ and π are drawn per (seed, epoch, step, rank), so they repeat.
    func testResumedFaithfulRunEqualsTheUninterruptedRunBitForBit() throws {
        let path = try config("faithful", epochs: 2, replacing: [
            "mixing": "{method: multimix, n: 64, alpha: [0.5, 2.0], probability: 0.5, fallback: mixup, fallback_alpha: 1.0}",
        ])
        try assertResumeIsBitExact(config: path, tag: "faithful-")
    }

    private func assertResumeIsBitExact(config path: String, tag: String) throws {
        let straight = folder.appendingPathComponent(tag + "straight"), resumed = folder.appendingPathComponent(tag + "resumed")
        XCTAssertEqual(try train(ranks: 2, config: path, runDirectory: straight).status, 0)
        // 8 steps per epoch: stop 3 steps into the second epoch, then continue.
        let second = try stopAndResume(config: path, runDirectory: resumed, ranks: 2, stoppingAfter: 11, thenRanks: 2)
        XCTAssertTrue(second.output.contains("resuming from"), second.output)
        for file in ["model.safetensors", "optimizer.safetensors"] {
            let a = try allTensors(straight.appendingPathComponent("checkpoints/step-000016/\(file)"))
            let b = try allTensors(resumed.appendingPathComponent("checkpoints/step-000016/\(file)"))
            XCTAssertTrue(a.keys.contains { $0.contains("running_mean") } || file != "model.safetensors")
            XCTAssertEqual(a.keys.sorted(), b.keys.sorted(), file)
            let differing = a.keys.sorted().filter { a[$0]! != b[$0] }
            XCTAssertEqual(differing, [], "\(file): these differ after resuming")
        }
        // From step 13: the record at step 12 averages steps 11–12 in one run, step 12 alone in the other.
        let after = { (run: URL) in try MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).filter { $0.step > 12 }
            .map { "\($0.kind) \($0.step) \($0.values.filter { !["images_per_s", "data_wait_fraction", "exposed_comm_ms", "step_ms"].contains($0.key) }.sorted { $0.key < $1.key })" } }
        XCTAssertEqual(try after(straight), try after(resumed))
    }

    /// The probe's case: SIGTERM to mpirun mid-run, then `--resume auto` on as many ranks: the final
    /// checkpoint equals the uninterrupted run's in every tensor (34 BatchNorm running statistics
    /// differed in their low bits when the stop averaged them over the ranks).
    func testResumedRunAfterSIGTERMEqualsTheUninterruptedRunBitForBit() throws {
        // 30 epochs of 8 steps: long enough (several seconds) for the signal to land mid-run.
        let path = try config(epochs: 30)
        let straight = folder.appendingPathComponent("straight"), resumed = folder.appendingPathComponent("sigterm")
        XCTAssertEqual(try train(ranks: 2, config: path, runDirectory: straight).status, 0)
        let job = try startTraining(config: path, runDirectory: resumed)
        waitForFirstMetrics(resumed)
        kill(job.processIdentifier, SIGTERM)
        let stopped = job.finish(timeout: 120)
        guard stopped.output.contains("signal received: checkpoint written at step ") else {
            throw XCTSkip("the run ended before the signal reached it: \(stopped.output)")
        }
        let step = stopped.output.components(separatedBy: "signal received: checkpoint written at step ").last.flatMap { Int($0.prefix { $0.isNumber }) }
        print("TrainerRunTests: SIGTERM checkpoint at step \(step ?? -1) (\(step.map { $0 % 8 == 0 ? "an epoch's end" : "mid-epoch" } ?? "?"))")
        let second = try train(ranks: 2, config: path, runDirectory: resumed, arguments: ["--resume", "auto"])
        XCTAssertEqual(second.status, 0, second.output)
        for file in ["model.safetensors", "optimizer.safetensors"] {
            let a = try allTensors(straight.appendingPathComponent("checkpoints/step-000240/\(file)"))
            let b = try allTensors(resumed.appendingPathComponent("checkpoints/step-000240/\(file)"))
            XCTAssertEqual(a.keys.sorted(), b.keys.sorted(), file)
            XCTAssertEqual(a.keys.sorted().filter { a[$0]! != b[$0] }, [], "\(file): these differ after SIGTERM and resuming")
        }
    }

    /// Every tensor of a safetensors file by name, as bit patterns (float32 and int64 alike).
    func allTensors(_ file: URL) throws -> [String: [UInt64]] {
        let (tensors, _) = try Safetensors.read(file)
        return Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.values.map { UInt64($0.bitPattern) } + $0.integers.map { UInt64(bitPattern: $0) }) })
    }

    /// `--resume auto` with a config that changes the run (here optimizer.lr and data.train_subset) is
    /// refused naming each key with both values (it was accepted silently); --allow-config-change
    /// continues and lists them; a key that only changes how the run is watched (eval.*) needs nothing.
    func testResumeWithAChangedConfigIsRefusedNamingTheKeys() throws {
        let path = try config(epochs: 2)
        let run = folder.appendingPathComponent("changed")
        XCTAssertEqual(try train(ranks: 1, config: path, runDirectory: run, arguments: ["--max-steps", "3"]).status, 0)
        let changed = ["--set", "optimizer.lr=0.1", "--set", "data.train_subset=256", "--max-steps", "4"]
        let refused = try train(ranks: 1, config: path, runDirectory: run, arguments: changed)
        XCTAssertNotEqual(refused.status, 0, refused.output)
        XCTAssertTrue(refused.output.contains("--resume: the config differs from the checkpoint's (step-000003) in data.train_subset 512 → 256; optimizer.lr 0.05 → 0.1; the resumed run would not be the run that was stopped: restore them, or pass --allow-config-change"), refused.output)
        XCTAssertEqual(try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3).latest()?.lastPathComponent, "step-000003")
        let watched = try train(ranks: 1, config: path, runDirectory: run, arguments: ["--set", "eval.every_epochs=50", "--max-steps", "4"])
        XCTAssertEqual(watched.status, 0, watched.output)
        let allowed = try train(ranks: 1, config: path, runDirectory: run, arguments: changed.dropLast(2) + ["--max-steps", "5", "--allow-config-change"])
        XCTAssertEqual(allowed.status, 0, allowed.output)
        XCTAssertTrue(allowed.output.contains("resuming with changed settings (allowed): the config differs from the checkpoint's (step-000004) in data.train_subset 512 → 256; optimizer.lr 0.05 → 0.1"), allowed.output)
    }

    /// CIFAR-10 with out-of-distribution detection against the CIFAR-100 test split: the trainer's
    /// final evaluation (2 ranks, test set split between them) and `multimix eval` on its checkpoint
    /// (1 process) agree.
    func testEvaluationWithOutOfDistributionSetMatchesOfflineEval() throws {
        let data = Repository.dataDirectory
        guard FileManager.default.fileExists(atPath: data + "/cifar-10-batches-bin/test_batch.bin"),
              FileManager.default.fileExists(atPath: data + "/cifar-100-binary/test.bin") else {
            throw XCTSkip("CIFAR data missing in \(data): run launch/setup.sh")
        }
        let run = folder.appendingPathComponent("cifar")
        let path = try config("cifar", method: "erm", epochs: 1, replacing: [
            "data": "{dataset: cifar10, root: \(data)/cifar-10-batches-bin, train_subset: 256}",
            "eval": "{every_epochs: 1, ood: {dataset: cifar100, root: \(data)/cifar-100-binary}}",
        ])
        let trained = try train(ranks: 2, config: path, runDirectory: run)
        XCTAssertEqual(trained.status, 0, trained.output)
        let records = try MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).filter { $0.kind == .eval }
        let online = try XCTUnwrap(records.last).values
        for name in [MetricName.top1, MetricName.oodAUROC, MetricName.oodAUPRIn, MetricName.oodAUPROut] {
            XCTAssertTrue((0...1).contains(online[name] ?? -1), "\(name) = \(String(describing: online[name]))")
        }
        let offline = try MPIRun.launch([multimix, "eval", "--checkpoint", run.appendingPathComponent("checkpoints").path,
                                         "--ood", "cifar100=\(data)/cifar-100-binary", "--json"], timeout: 120)
        XCTAssertEqual(offline.status, 0, offline.output)
        let line = try XCTUnwrap(offline.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let values = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double])
        XCTAssertEqual(values[MetricName.top1], online[MetricName.top1], "top-1 counts are exact")
        for name in [MetricName.nll, MetricName.ece, MetricName.oodAUROC, MetricName.oodAUPRIn, MetricName.oodAUPROut] {
            XCTAssertEqual(values[name]!, online[name]!, accuracy: 1e-6, "\(name): offline vs in training")
        }
    }

    /// Several named OOD sets in one evaluation: CIFAR-100's test split, a flat folder of photo-sized
    /// images and a nested one (an image folder's val/CLASS/*.jpg), both resized to the model's 32×32:
    /// per-set AUROC, AUPR-in and AUPR-out in metrics.jsonl, TensorBoard and the report, and `multimix
    /// eval` with a repeated --ood (1 process) gives the trainer's values (2 ranks).
    func testSeveralOutOfDistributionSetsInOneEvaluation() throws {
        let data = Repository.dataDirectory
        guard FileManager.default.fileExists(atPath: data + "/cifar-10-batches-bin/test_batch.bin"),
              FileManager.default.fileExists(atPath: data + "/cifar-100-binary/test.bin") else {
            throw XCTSkip("CIFAR data missing in \(data): run launch/setup.sh")
        }
        let images = try ImageFolderFixture.folder(size: 64, trainPerClass: 1, valPerClass: 2)
        let flat = folder.appendingPathComponent("flat").path
        try FileManager.default.createDirectory(atPath: flat, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: images + "/val/cat") {
            try FileManager.default.copyItem(atPath: images + "/val/cat/" + name, toPath: flat + "/" + name)
        }
        let run = folder.appendingPathComponent("oods")
        let path = try config("oods", method: "erm", epochs: 1, replacing: [
            "data": "{dataset: cifar10, root: \(data)/cifar-10-batches-bin, train_subset: 256}",
            "eval": "{every_epochs: 1, ood: [{name: cifar100, dataset: cifar100, root: \(data)/cifar-100-binary}, "
                + "{name: flat-cats, dataset: image-folder, root: \(flat)}, {name: nested_val, dataset: image-folder, root: \(images)/val}]}",
        ])
        let trained = try train(ranks: 2, config: path, runDirectory: run)
        XCTAssertEqual(trained.status, 0, trained.output)
        let online = try XCTUnwrap(MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).last { $0.kind == .eval }).values
        let keys = ["cifar100", "flat-cats", "nested_val"].flatMap { set in ["auroc", "aupr_in", "aupr_out"].map { "ood_\(set)_\($0)" } }
        for key in keys { XCTAssertTrue((0...1).contains(online[key] ?? -1), "\(key) = \(String(describing: online[key]))") }
        XCTAssertNil(online[MetricName.oodAUROC], "named sets have no plain ood_auroc")
        XCTAssertTrue(trained.output.contains("ood_cifar100_auroc ") && trained.output.contains("ood_nested_val_auroc "),
                      "the progress line shows each set's AUROC: \(trained.output)")
        let events = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("tb").path)
        let tensorBoard = try events.map { try Data(contentsOf: run.appendingPathComponent("tb/" + $0)) }.reduce(Data(), +)
        for key in keys { XCTAssertNotNil(tensorBoard.range(of: Data("eval/\(key)".utf8)), "TensorBoard has no eval/\(key)") }
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        for set in ["cifar100", "flat-cats", "nested_val"] { XCTAssertTrue(report.contains(set), "the report does not show \(set)") }

        let offline = try MPIRun.launch([multimix, "eval", "--checkpoint", run.appendingPathComponent("checkpoints").path,
                                         "--ood", "cifar100=\(data)/cifar-100-binary", "--ood", "flat-cats=\(flat)",
                                         "--ood", "nested_val=\(images)/val", "--json"], timeout: 120)
        XCTAssertEqual(offline.status, 0, offline.output)
        let line = try XCTUnwrap(offline.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let values = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double])
        for key in keys { XCTAssertEqual(values[key] ?? -1, online[key]!, accuracy: 1e-6, "\(key): offline vs in training") }

        let empty = folder.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let refused = try MPIRun.launch([multimix, "eval", "--checkpoint", run.appendingPathComponent("checkpoints").path,
                                         "--ood", "none=\(empty)"], timeout: 60)
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.output.contains("multimix: error: --ood none: \(empty): no images (.jpg, .jpeg, .png) in this folder or below it"), refused.output)
        let bad = folder.appendingPathComponent("bad").path
        let broken = try ImageFolderFixture.folder(size: 32, trainPerClass: 2, valPerClass: 1, corrupt: true)
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        for name in ["ok.jpg", "truncated.jpg"] { try FileManager.default.copyItem(atPath: broken + "/bad/airplane/" + name, toPath: bad + "/" + name) }
        let undecodable = try MPIRun.launch([multimix, "eval", "--checkpoint", run.appendingPathComponent("checkpoints").path,
                                             "--ood", "bad=\(bad)"], timeout: 60)
        XCTAssertEqual(undecodable.status, 1)
        XCTAssertTrue(undecodable.output.contains("multimix: error: evaluation: cannot decode \(bad)/truncated.jpg: JPEG: Premature end"), undecodable.output)
        let missing = try MPIRun.launch([multimix, "eval", "--checkpoint", run.appendingPathComponent("checkpoints").path,
                                         "--ood", "isun=\(folder.path)/no-isun"], timeout: 60)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.output.contains("multimix: error: --ood isun: \(folder.path)/no-isun: no such folder; give a folder holding images (ROOT/*.jpg or ROOT/ANY/*.jpg) (the paper's sets: `multimix data fetch isun`"), missing.output)
    }

    // MARK: - Faults and signals

    /// kill -9 of one rank mid-run ends the job, non-zero, within 30 s; the last checkpoint loads.
    func testKilledRankEndsTheJobAndTheCheckpointStaysLoadable() throws {
        let run = folder.appendingPathComponent("killed")
        let path = try config(epochs: 50)
        let job = try startTraining(config: path, runDirectory: run)
        // Wait for the first checkpoint (end of epoch 1), then kill one rank.
        let latest = run.appendingPathComponent("checkpoints/latest")
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: latest.path) && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: latest.path), "no checkpoint within 120 s")
        guard let victim = try rankProcesses(config: path).last else { return }
        let killed = Date()
        kill(victim, SIGKILL)
        let result = job.finish(timeout: 30)
        XCTAssertFalse(result.timedOut, "the job still ran 30 s after a rank was killed")
        XCTAssertLessThan(Date().timeIntervalSince(killed), 35)
        XCTAssertNotEqual(result.status, 0)
        let store = try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3)
        let (checkpoint, refused) = store.newestGood()
        XCTAssertNotNil(checkpoint, "no loadable checkpoint after the kill: \(refused)")
        XCTAssertTrue(refused.isEmpty, "\(refused)")
    }

    /// Two jobs on one run folder: the second stops at once naming the folder, and the first finishes
    /// with its checkpoints and metrics its own.
    func testASecondJobOnTheSameRunFolderIsRefused() throws {
        let run = folder.appendingPathComponent("shared")
        let path = try config(epochs: 3)
        let first = try startTraining(config: path, runDirectory: run)
        waitForFirstMetrics(run)
        let second = try train(ranks: 2, config: path, runDirectory: run)
        XCTAssertEqual(second.status, 1, second.output)
        XCTAssertTrue(second.output.contains("\(run.path) is in use by another job (process "), second.output)
        let result = first.finish(timeout: 240)
        XCTAssertEqual(result.status, 0, result.output)
        // And once the first has ended, the folder is free again.
        let resumed = try train(ranks: 2, config: path, runDirectory: run, arguments: ["--max-steps", "25"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
    }

    /// A rank that stops answering (SIGSTOP: hung, not dead) no longer leaves the job waiting forever:
    /// past `distributed.stall_abort_s` without progress the waiting rank ends the job, non-zero.
    func testAStalledRankEndsTheJobAfterTheStallLimit() throws {
        let run = folder.appendingPathComponent("stalled")
        let path = try config(epochs: 50, replacing: ["distributed": "{check_every_steps: 1, stall_timeout_s: 2, stall_abort_s: 6}"])
        let job = try startTraining(config: path, runDirectory: run)
        waitForFirstMetrics(run)
        guard let victim = try rankProcesses(config: path).last else { return }
        let stopped = Date()
        kill(victim, SIGSTOP)
        defer { kill(victim, SIGKILL) }
        let result = job.finish(timeout: 60)
        XCTAssertFalse(result.timedOut, "the job still waited 60 s after a rank hung: \(result.output)")
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 60)
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("(distributed.stall_abort_s = 6): another rank died, hangs or left early; ending the job"), result.output)
    }

    /// SIGUSR1 (Slurm's warning) and SIGTERM (preemption) to mpirun: a checkpoint at the next step.
    func testSignalsWriteACheckpointAndStop() throws {
        for signal in [SIGUSR1, SIGTERM] {
            let run = folder.appendingPathComponent("signal-\(signal)")
            let path = try config(epochs: 50)
            let job = try startTraining(config: path, runDirectory: run)
            // Wait until training runs (the first metrics line), then signal mpirun.
            let metrics = run.appendingPathComponent("metrics.jsonl")
            let deadline = Date().addingTimeInterval(120)
            while ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").isEmpty && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
            }
            kill(job.processIdentifier, signal)
            let result = job.finish(timeout: 120)
            let output = result.output
            XCTAssertFalse(result.timedOut, "the job did not stop within 120 s of the signal: \(output)")
            XCTAssertNotEqual(result.status, 0, "a signalled run reports that it did not finish")
            let announced = output.components(separatedBy: "signal received: checkpoint written at step ").dropFirst().first
                .flatMap { Int($0.prefix { $0.isNumber }) }
            XCTAssertNotNil(announced, output)
            let (checkpoint, _) = try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3).newestGood()
            XCTAssertEqual(checkpoint?.state.step, announced, "the newest checkpoint is the one the signal wrote")
        }
    }

    /// A stop signal during an evaluation ends the job within a batch (the ranks agree on it after
    /// every evaluation batch) instead of after the whole evaluation; the epoch's training is kept in a
    /// checkpoint marked `evaluation_pending`, and the resumed run evaluates first, once.
    func testSignalDuringAnEvaluationStopsItAndTheResumedRunEvaluatesFirst() throws {
        let run = folder.appendingPathComponent("signal-during-eval")
        // 2 × 30000 noise images make the evaluation long enough to be interrupted.
        let path = try config("evalsignal", epochs: 2, replacing: ["eval": "{every_epochs: 1, noise_ood_images: 30000}"])
        let job = try startTraining(config: path, runDirectory: run)
        let deadline = Date().addingTimeInterval(120)
        while !job.output.contains("evaluating after epoch 1") && job.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTAssertTrue(job.output.contains("evaluating after epoch 1"), job.output)
        kill(job.processIdentifier, SIGTERM)
        let result = job.finish(timeout: 120)
        XCTAssertFalse(result.timedOut, result.output)
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("signal received during the evaluation after epoch 1: checkpoint written at step 8"), result.output)
        XCTAssertFalse(result.output.contains("eval after epoch 1"), "the evaluation ran to its end: \(result.output)")
        let store = try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3)
        let (checkpoint, _) = store.newestGood()
        XCTAssertEqual(checkpoint?.state.step, 8)
        XCTAssertEqual(checkpoint?.state.evaluationPending, true)

        let resumed = try train(ranks: 2, config: path, runDirectory: run, arguments: ["--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        let evaluated = try MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).filter { $0.kind == .eval }.map(\.step)
        XCTAssertEqual(evaluated, [8, 16], "the pending evaluation first, then the last epoch's, each once")
        XCTAssertNil(store.newestGood().0?.state.evaluationPending, "the final checkpoint has nothing pending")
    }

    /// Trains on `ranks` until step `stoppingAfter`, then resumes (`--resume auto`) on `thenRanks`;
    /// both runs must succeed. Returns the resumed run's result.
    func stopAndResume(config: String, runDirectory: URL, ranks: Int, stoppingAfter steps: Int, thenRanks: Int) throws -> MPIRun.Result {
        let first = try train(ranks: ranks, config: config, runDirectory: runDirectory, arguments: ["--max-steps", String(steps)])
        XCTAssertEqual(first.status, 0, first.output)
        let resumed = try train(ranks: thenRanks, config: config, runDirectory: runDirectory, arguments: ["--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        return resumed
    }

    /// The logged learning rate of each train record, by step.
    func loggedLearningRates(_ runDirectory: URL) throws -> [Int: Double] {
        let records = try MetricsLog.read(runDirectory.appendingPathComponent("metrics.jsonl")).filter { $0.kind == .train }
        return Dictionary(records.compactMap { record in record.values["lr"].map { (record.step, $0) } }) { _, last in last }
    }

    /// Elastic resume, keep-global-batch (the default): 3 ranks × 32 stop mid-epoch at step 3; 2 ranks
    /// continue with 48 each (the same global batch of 96, so the same steps per epoch and learning
    /// rates as a run that never changed) and finish; the checkpoint records the new world size.
    func testResumeOnFewerRanksKeepsTheGlobalBatch() throws {
        let path = try config("elastic-global", epochs: 2, replacing: ["training": "{epochs: 2, batch_size: 32, threads: 1, log_every_steps: 1}"])
        let run = folder.appendingPathComponent("elastic-global"), reference = folder.appendingPathComponent("elastic-reference")
        XCTAssertEqual(try train(ranks: 3, config: path, runDirectory: reference).status, 0)
        let resumed = try stopAndResume(config: path, runDirectory: run, ranks: 3, stoppingAfter: 3, thenRanks: 2)
        XCTAssertTrue(resumed.output.contains("resuming on 2 ranks a run of 3: global batch 96 kept, 48 per rank"), resumed.output)
        let (checkpoint, _) = try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3).newestGood()
        XCTAssertEqual(checkpoint?.state.step, 10, "5 steps per epoch on 3 ranks and on 2")
        XCTAssertEqual(checkpoint?.state.worldSize, 2)
        XCTAssertEqual(checkpoint?.state.globalBatchSize, 96)
        XCTAssertEqual(checkpoint?.state.baseGlobalBatchSize, 96)
        let rates = try loggedLearningRates(run), expected = try loggedLearningRates(reference)
        XCTAssertEqual(Array(rates.keys).sorted(), Array(1...10))
        for step in 4...10 { XCTAssertEqual(rates[step]!, expected[step]!, accuracy: 1e-12, "step \(step)") }
    }

    /// Elastic resume, keep-rank-batch: 2 ranks × 32 (global 64) finish epoch 1; 3 ranks continue with
    /// 32 each (global 96, 5 steps per epoch instead of 8) and the learning rate × 96/64. The default
    /// policy refuses the same resume by name: 64 does not split over 3 ranks.
    func testResumeOnMoreRanksKeepsTheRankBatchAndScalesTheLearningRate() throws {
        let training = ["training": "{epochs: 2, batch_size: 32, threads: 1, log_every_steps: 1}"]
        let keepGlobal = try config("elastic-refused", epochs: 2, replacing: training)
        let run = folder.appendingPathComponent("elastic-rank")
        XCTAssertEqual(try train(ranks: 2, config: keepGlobal, runDirectory: run, arguments: ["--max-steps", "8"]).status, 0)
        let refused = try train(ranks: 3, config: keepGlobal, runDirectory: run, arguments: ["--resume", "auto"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.output.contains("the run's global batch of 64 does not split over 3 ranks (distributed.on_world_size_change: keep-global-batch); resume on 1, 2, 4, 8, 16, 32, 64 ranks, or set distributed.on_world_size_change: keep-rank-batch"), refused.output)

        let keepRank = try config("elastic-rank", epochs: 2, replacing: training.merging(
            ["distributed": "{check_every_steps: 1, stall_timeout_s: 60, on_world_size_change: keep-rank-batch}"]) { $1 })
        let reference = folder.appendingPathComponent("elastic-rank-reference")
        XCTAssertEqual(try train(ranks: 2, config: keepRank, runDirectory: reference).status, 0)
        let resumed = try train(ranks: 3, config: keepRank, runDirectory: run, arguments: ["--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming on 3 ranks a run of 2: 32 per rank kept, global batch 96, learning rate ×1.5"), resumed.output)
        let (checkpoint, _) = try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3).newestGood()
        XCTAssertEqual(checkpoint?.state.step, 13, "8 steps of epoch 1 on 2 ranks, 5 of epoch 2 on 3")
        XCTAssertEqual(checkpoint?.state.globalBatchSize, 96)
        XCTAssertEqual(checkpoint?.state.baseGlobalBatchSize, 64)
        // Step 9 starts epoch 2 in both runs: the same point of the schedule, ×1.5.
        XCTAssertEqual(try loggedLearningRates(run)[9]!, 1.5 * (try loggedLearningRates(reference)[9]!), accuracy: 1e-12)
    }

    /// A damaged newest checkpoint is refused by name: `--resume auto` falls back to the previous good
    /// one, `--resume PATH` stops with the reason.
    func testCorruptedCheckpointIsRefused() throws {
        let run = folder.appendingPathComponent("corrupt")
        let path = try config(epochs: 2)
        XCTAssertEqual(try train(ranks: 2, config: path, runDirectory: run).status, 0)
        let damaged = run.appendingPathComponent("checkpoints/step-000016")
        let file = try FileHandle(forUpdating: damaged.appendingPathComponent("model.safetensors"))
        try file.seek(toOffset: 1000)
        let byte = try file.read(upToCount: 1)![0]
        try file.seek(toOffset: 1000)
        try file.write(contentsOf: Data([byte ^ 0xFF]))
        try file.close()

        let explicit = try train(ranks: 2, config: path, runDirectory: run, arguments: ["--resume", damaged.path])
        XCTAssertEqual(explicit.status, 1, explicit.output)
        XCTAssertTrue(explicit.output.contains("step-000016/model.safetensors"), explicit.output)
        XCTAssertTrue(explicit.output.lowercased().contains("sha-256") || explicit.output.contains("checksum"), explicit.output)

        let fallback = try train(ranks: 2, config: try config(epochs: 3), runDirectory: run, arguments: ["--resume", "auto"])
        XCTAssertEqual(fallback.status, 0, fallback.output)
        XCTAssertTrue(fallback.output.contains("refused checkpoint"), fallback.output)
        XCTAssertTrue(fallback.output.contains("resuming from \(run.path)/checkpoints/step-000008"), fallback.output)
    }

    /// Resuming never loses a checkpoint: `--resume never` on a folder with checkpoints leaves even its
    /// config.yaml untouched; `--resume PATH` to an earlier step is refused while newer ones exist;
    /// `--resume auto` with checkpoints of another model (a wrong shape) refuses each by name and stops
    /// instead of starting over them.
    func testResumeRefusalsKeepTheRunFolderIntact() throws {
        let run = folder.appendingPathComponent("intact")
        let path = try config(epochs: 2)
        XCTAssertEqual(try train(ranks: 2, config: path, runDirectory: run).status, 0)
        let configFile = run.appendingPathComponent("config.yaml")
        let before = try Data(contentsOf: configFile)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path).sorted()

        let never = try train(ranks: 2, config: try config(epochs: 3), runDirectory: run, arguments: ["--resume", "never"])
        XCTAssertEqual(never.status, 1, never.output)
        XCTAssertTrue(never.output.contains("already holds 2 checkpoints"), never.output)
        XCTAssertEqual(try Data(contentsOf: configFile), before, "a refused --resume never rewrote config.yaml")

        let earlier = run.appendingPathComponent("checkpoints/step-000008").path
        let back = try train(ranks: 2, config: path, runDirectory: run, arguments: ["--resume", earlier])
        XCTAssertEqual(back.status, 1, back.output)
        XCTAssertTrue(back.output.contains("holds 1 checkpoint newer than step 8 (newest step-000016)"), back.output)

        let wider = try config("tiny", epochs: 3, replacing: ["model": "{name: resnet20, width: 0.5}"])
        let other = try train(ranks: 2, config: wider, runDirectory: run, arguments: ["--resume", "auto"])
        XCTAssertEqual(other.status, 1, other.output)
        XCTAssertTrue(other.output.contains("refused checkpoint:") && other.output.contains("has shape"), other.output)
        XCTAssertTrue(other.output.contains("none of them can be resumed"), other.output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path).sorted(), checkpoints)
    }

    // MARK: - Bad input

    /// Bad configs and flags: one line naming the key, the value and what is allowed; exit 1; no run
    /// folder written.
    func testBadConfigsAreRejectedBeforeAnyWork() throws {
        let cases: [(replacing: [String: String], extra: String, expected: String)] = [
            ([:], "optimizr: {lr: 0.1}", "optimizr"),
            (["optimizer": "{lr: -1}"], "", "optimizer.lr"),
            (["mixing": "{method: multimixx}"], "", "mixing.method"),
            (["data": "{dataset: cifar10, root: \(folder.path)/nowhere}"], "", "nowhere"),
        ]
        for (i, bad) in cases.enumerated() {
            let run = folder.appendingPathComponent("bad-\(i)")
            let path = try config("bad\(i)", replacing: bad.replacing, extra: bad.extra)
            let result = try train(ranks: 2, config: path, runDirectory: run, timeout: 60)
            XCTAssertEqual(result.status, 1, "\(bad):\n\(result.output)")
            let errors = result.output.split(separator: "\n").filter { $0.contains("multimix: error:") }
            XCTAssertFalse(errors.isEmpty, result.output)
            XCTAssertTrue(errors.allSatisfy { $0.contains(bad.expected) }, "\(bad): \(errors)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: run.path), "a rejected config created \(run.path)")
        }
        let unknownOverride = try train(ranks: 1, config: try config(), runDirectory: folder.appendingPathComponent("o"),
                                        arguments: ["--set", "training.epochz=3"], timeout: 60)
        XCTAssertEqual(unknownOverride.status, 1)
        XCTAssertTrue(unknownOverride.output.contains("training.epochz"), unknownOverride.output)
    }

    /// A diverging run stops at the first non-finite loss (exit 3, the step named), or skips such
    /// steps when training.skip_nonfinite says so.
    func testNonFiniteLossStopsTheRunOrIsSkipped() throws {
        let path = try config("diverging", method: "erm", epochs: 1, replacing: ["optimizer": "{lr: 1.0e+30, momentum: 0.9}"])
        let stopped = try train(ranks: 2, config: path, runDirectory: folder.appendingPathComponent("stopped"))
        XCTAssertEqual(stopped.status, 3, stopped.output)
        // Steps count from 1, as in the progress lines: the first step explodes the parameters, the second's loss is NaN.
        XCTAssertTrue(stopped.output.contains("multimix: error: step 2: the loss is not finite; lower optimizer.lr"), stopped.output)
        let skippedRun = folder.appendingPathComponent("skipped")
        let skipped = try train(ranks: 2, config: path, runDirectory: skippedRun, arguments: ["--set", "training.skip_nonfinite=true"])
        XCTAssertEqual(skipped.status, 0, skipped.output)
        XCTAssertTrue(skipped.output.contains("step 2: non-finite loss or gradient; step skipped, nothing changed"), skipped.output)
        // A skipped step changes nothing: BatchNorm's running statistics stay finite (they were fed NaN
        // activations before), and it is logged as skipped, not as a loss of 0.
        let (tensors, _) = try Safetensors.read(skippedRun.appendingPathComponent("checkpoints/step-000008/model.safetensors"))
        for tensor in tensors where tensor.name.contains("running_") {
            XCTAssertTrue(tensor.values.allSatisfy(\.isFinite), "\(tensor.name) holds non-finite values")
        }
        XCTAssertFalse(try loggedLosses(skippedRun).contains(0), "a skipped step was logged as loss 0")
        let text = try String(contentsOf: skippedRun.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        XCTAssertTrue(text.contains("\"skipped_steps\":"), text)
    }

    /// Ranks started with different flags or configs stop at once (exit 4), naming the setting that
    /// differs: a rank with another --max-steps used to wait forever for the others.
    func testRanksWithDifferentSettingsStopNamingTheSetting() throws {
        let path = try config(epochs: 1)
        func mpmd(_ first: [String], _ second: [String]) throws -> MPIRun.Result {
            let base = [multimix, "train", "--config", path, "--run-dir", folder.appendingPathComponent("mpmd-\(UUID().uuidString)").path]
            return try MPIRun.launch(["mpirun"] + MPIRun.localFlags + ["-np", "1"] + base + first + [":", "-np", "1"] + base + second,
                                     timeout: 120)
        }
        let steps = try mpmd(["--max-steps", "3"], ["--max-steps", "5"])
        XCTAssertFalse(steps.timedOut, steps.output)
        XCTAssertEqual(steps.status, 4, steps.output)
        XCTAssertTrue(steps.output.contains("rank 1 started with other settings than rank 0: --max-steps is 3 on rank 0 and 5 on rank 1"), steps.output)
        let key = try mpmd([], ["--set", "mixing.n=32"])
        XCTAssertEqual(key.status, 4, key.output)
        XCTAssertTrue(key.output.contains("mixing.n is 64 on rank 0 and 32 on rank 1"), key.output)
    }
}
