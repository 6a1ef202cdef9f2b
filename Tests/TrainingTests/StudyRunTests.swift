import Checkpointing
import Foundation
import RunOutputs
import TextEscaping
import TestSupport
import Training
import XCTest

/// `multimix study` as users run it: real `mpirun` on real Fashion-MNIST, runs of a few seconds
/// (256 training images, ResNet-20 at width 1/4, 32 images per rank and step, 1 epoch).
final class StudyRunTests: XCTestCase {
    let multimix = MPIRun.executable("multimix")
    var folder: URL!

    override func setUpWithError() throws {
        folder = try Repository.runFolderWithFashionMNIST(prefix: "study")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("studies"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// studies/base.yaml (`trainSubset` images) and studies/tiny.yaml: erm and multimix × `seeds`.
    func writeStudy(seeds: String = "[0, 1]", trainSubset: Int = 256, epochs: Int = 1) throws -> String {
        try """
            name: tiny
            data: {dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: \(trainSubset), augment: {crop_padding: 0, horizontal_flip: false}}
            model: {name: resnet20, width: 0.25}
            mixing: {method: multimix, n: 64}
            optimizer: {lr: 0.05}
            training: {epochs: \(epochs), batch_size: 32, threads: 1, log_every_steps: 2}
            distributed: {stall_timeout_s: 60}

            """.write(to: folder.appendingPathComponent("studies/base.yaml"), atomically: true, encoding: .utf8)
        let study = folder.appendingPathComponent("studies/tiny.yaml")
        try """
            name: tiny
            base: base.yaml
            seeds: \(seeds)
            set: ["eval.every_epochs=1"]
            variants:
              - {name: erm, set: ["mixing.method=erm"]}
              - {name: multimix}

            """.write(to: study, atomically: true, encoding: .utf8)
        return study.path
    }

    var runs: URL { folder.appendingPathComponent("runs") }
    var studyFolder: URL { runs.appendingPathComponent("tiny") }

    /// `mpirun -np 2 multimix study …`, from the test folder (so `--run-dir-root runs` is relative).
    func study(_ path: String, _ arguments: [String] = [], ranks: Int = 2) throws -> MPIRun.Result {
        let command = [multimix, "study", "--config", path, "--run-dir-root", "runs"] + arguments
        let line = ranks > 0 ? ["mpirun", "-np", "\(ranks)"] + MPIRun.localFlags + command : command
        return try MPIRun.launch(line, timeout: 300, environment: ["MULTIMIX_PROGRESS": "lines"], currentDirectory: folder)
    }

    func text(_ name: String) throws -> String {
        try String(contentsOf: studyFolder.appendingPathComponent(name), encoding: .utf8)
    }

    func modificationDate(_ url: URL) throws -> Date {
        try XCTUnwrap(FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date)
    }

    /// 2 variants × 2 seeds on 2 ranks, one run interrupted beforehand (resumed); then again (all
    /// skipped, same results); then `--report-only` with and without a run.
    func testTinyStudyResumesRunsSkipsFinishedOnesAndRebuildsItsReport() throws {
        let path = try writeStudy()
        // erm-s00 stopped after 2 of its 4 steps, as an interrupted study leaves it.
        let partial = try MPIRun.run(ranks: 2, program: multimix, arguments: [
            "train", "--config", folder.appendingPathComponent("studies/base.yaml").path, "--set", "mixing.method=erm",
            "--set", "eval.every_epochs=1", "--set", "seed=0", "--set", "name=erm-s00",
            "--run-dir", studyFolder.appendingPathComponent("erm-s00").path, "--max-steps", "2"], timeout: 120)
        XCTAssertEqual(partial.status, 0, partial.output)

        let first = try study(path)
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("study tiny: run 1/4 erm-s00 (0 skipped, finished), ETA ?"), first.output)
        XCTAssertTrue(first.output.contains("resuming from \(studyFolder.path)/erm-s00/checkpoints/step-000002"), first.output)
        XCTAssertTrue(first.output.contains("study tiny: run 4/4 multimix-s01 (0 skipped, finished), ETA "), first.output)
        for run in ["erm-s00", "erm-s01", "multimix-s00", "multimix-s01"] {
            let marker = try XCTUnwrap(FinishedMarker.read(runFolder: studyFolder.appendingPathComponent(run)), run)
            XCTAssertEqual(marker.step, 4, run)
        }
        let csv = try text("results.csv"), markdown = try text("results.md"), report = try text("report.html")
        let rows = csv.split(separator: "\n")
        XCTAssertEqual(rows.count, 5, csv)
        XCTAssertTrue(rows[0].hasPrefix("variant,seed,epoch,alignment,alignment_raw,alignment_rms,ece,embedding_norm,nll,top1,top5,uniformity,uniformity_raw,uniformity_rms,wall_seconds"), csv)
        XCTAssertEqual(rows.dropFirst().map { $0.split(separator: ",").prefix(3).joined(separator: ",") },
                       ["erm,0,1", "erm,1,1", "multimix,0,1", "multimix,1,1"])
        XCTAssertEqual(markdown.split(separator: "\n").filter { $0.hasPrefix("| erm | 2 |") || $0.hasPrefix("| multimix | 2 |") }.count, 2, markdown)
        XCTAssertTrue(report.contains("<svg"))
        let figure = try text("top1.svg")
        XCTAssertTrue(figure.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""), figure)
        XCTAssertTrue(figure.contains("<style>"), figure)
        XCTAssertEqual(figure.components(separatedBy: "class=\"series\"").count - 1, 2, "a line per variant")
        // Every number comes from the run folders: the CSV's top1 is the last eval record's.
        let evaluations = try MetricsLog.read(studyFolder.appendingPathComponent("multimix-s01/metrics.jsonl")).filter { $0.kind == .eval }
        XCTAssertTrue(rows[4].contains(",\(try XCTUnwrap(evaluations.last?.values["top1"])),"), "\(rows[4]) vs \(evaluations)")

        // Again: nothing retrained, the same bytes.
        let logs = ["erm-s00", "multimix-s01"].map { studyFolder.appendingPathComponent("\($0)/metrics.jsonl") }
        let dates = try logs.map(modificationDate)
        let second = try study(path)
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertEqual(second.output.components(separatedBy: ": skipped, finished").count - 1, 4, second.output)
        XCTAssertFalse(second.output.contains("epoch 1/1"), "a finished run trained again:\n\(second.output)")
        XCTAssertEqual(try logs.map(modificationDate), dates)
        XCTAssertEqual(try text("results.csv"), csv)
        XCTAssertEqual(try text("results.md"), markdown)
        XCTAssertEqual(try text("report.html"), report)

        // A later version that encodes more keys hashes the same config differently (here: a marker's
        // hash replaced): the run is still finished when its config.yaml has the same settings.
        let markerFile = studyFolder.appendingPathComponent("erm-s00/\(FinishedMarker.fileName)")
        var marker = try XCTUnwrap(FinishedMarker.read(runFolder: markerFile.deletingLastPathComponent()))
        marker.configHash = String(repeating: "0", count: 64)
        try marker.write(runFolder: markerFile.deletingLastPathComponent())
        let rehashed = try study(path)
        XCTAssertEqual(rehashed.status, 0, rehashed.output)
        XCTAssertEqual(rehashed.output.components(separatedBy: ": skipped, finished").count - 1, 4, rehashed.output)

        // Other threads are the same runs; another config for a finished run is refused by name.
        let original = try String(contentsOfFile: path, encoding: .utf8)
        try original.replacingOccurrences(of: "set: [\"eval.every_epochs=1\"]", with: "set: [\"eval.every_epochs=1\", \"training.threads=2\"]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let threads = try study(path)
        XCTAssertEqual(threads.status, 0, threads.output)
        XCTAssertEqual(threads.output.components(separatedBy: ": skipped, finished").count - 1, 4, threads.output)
        try original.replacingOccurrences(of: "set: [\"eval.every_epochs=1\"]", with: "set: [\"eval.every_epochs=1\", \"optimizer.lr=0.01\"]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let changed = try study(path)
        XCTAssertEqual(changed.status, 1, changed.output)
        XCTAssertTrue(changed.output.contains("study tiny: \(studyFolder.path)/erm-s00 finished with another config than the study now gives it"), changed.output)
        try original.write(toFile: path, atomically: true, encoding: .utf8)

        // --report-only: one process, no mpirun, the same results; then with a run gone.
        let rebuilt = try study(path, ["--report-only"], ranks: 0)
        XCTAssertEqual(rebuilt.status, 0, rebuilt.output)
        XCTAssertEqual(try text("results.csv"), csv)
        XCTAssertEqual(try text("report.html"), report)
        try FileManager.default.removeItem(at: studyFolder.appendingPathComponent("multimix-s01"))
        let partialReport = try study(path, ["--report-only"], ranks: 0)
        XCTAssertEqual(partialReport.status, 0, partialReport.output)
        XCTAssertTrue(partialReport.output.contains("study tiny: 3 of 4 runs in"), partialReport.output)
        XCTAssertTrue(partialReport.output.contains("missing: multimix-s01"), partialReport.output)
        XCTAssertEqual(try text("results.csv").split(separator: "\n").count, 4)
        XCTAssertTrue(try text("results.md").contains("Missing (no evaluation in metrics.jsonl): multimix-s01."))
    }

    /// `final_test`: runs chosen on a validation split (the last 64 training images) get the test split
    /// once, as each finishes, in test.json: the same numbers `multimix eval` gives for the final
    /// checkpoint. Its tables (results-test.*) appear only with every run's; a finished run that lost
    /// its test.json is evaluated from its checkpoint when the study runs again, to the same bytes.
    func testFinalTestEvaluatesEachFinishedRunOnceAndTabulatesOnlyTheWholeStudy() throws {
        let path = try writeStudy(seeds: "[0]")
        let original = try String(contentsOfFile: path, encoding: .utf8)
        try original.replacingOccurrences(of: "set: [\"eval.every_epochs=1\"]",
                                          with: "final_test: true\ncompare_to: [erm]\nset: [\"eval.every_epochs=1\", \"data.validation_subset=64\", \"eval.split=validation\"]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let first = try study(path)
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("study tiny: the test split, all 2 runs: \(studyFolder.path)/results-test.csv, results-test.md"), first.output)
        let tested = try XCTUnwrap(TestSplitResult.read(runFolder: studyFolder.appendingPathComponent("multimix-s00")))
        XCTAssertEqual(tested.step, 4)
        let validation = try XCTUnwrap(MetricsLog.read(studyFolder.appendingPathComponent("multimix-s00/metrics.jsonl")).last { $0.kind == .eval })
        let offline = try MPIRun.launch([multimix, "eval", "--checkpoint", studyFolder.appendingPathComponent("multimix-s00/checkpoints").path, "--json"],
                                        timeout: 120, environment: ["MULTIMIX_PROGRESS": "lines"])
        XCTAssertEqual(offline.status, 0, offline.output)
        let line = try XCTUnwrap(offline.output.split(separator: "\n").last { $0.hasPrefix("{") })
        let offlineMetrics = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(offlineMetrics["top1"] as? Double, tested.metrics["top1"], "test.json is the test split of the final model")
        XCTAssertEqual(offlineMetrics["nll"] as? Double ?? 0, tested.metrics["nll"] ?? 1, accuracy: 1e-5)
        XCTAssertNotEqual(validation.values["nll"], tested.metrics["nll"], "metrics.jsonl's evaluations are the validation split's")
        let testTable = try text("results-test.md")
        XCTAssertTrue(testTable.hasPrefix("# Study tiny (test split)"), testTable)
        XCTAssertTrue(testTable.contains("## Paired differences against erm"), testTable)
        XCTAssertTrue(try text("results-test.csv").contains("multimix,0,1,"))

        // A run's test.json lost: sealed in the tables, evaluated again from its checkpoint by the study.
        let file = studyFolder.appendingPathComponent("erm-s00/\(TestSplitResult.fileName)")
        let bytes = try Data(contentsOf: file)
        try FileManager.default.removeItem(at: file)
        let sealed = try study(path, ["--report-only"], ranks: 0)
        XCTAssertEqual(sealed.status, 0, sealed.output)
        XCTAssertTrue(sealed.output.contains("study tiny: the test split is sealed until every run has finished with its test.json (1 of 2 have)"), sealed.output)
        let again = try study(path)
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("study tiny: run 1/2 erm-s00: finished; its final checkpoint on the test split (final_test)"), again.output)
        XCTAssertTrue(again.output.contains("study tiny: run 2/2 multimix-s00: skipped, finished"), again.output)
        XCTAssertEqual(try Data(contentsOf: file), bytes, "the same model, the same test numbers")
        // Without a checkpoint to evaluate it stays sealed, said in one line; a damaged test.json is an error.
        try FileManager.default.removeItem(at: file)
        try FileManager.default.removeItem(at: studyFolder.appendingPathComponent("erm-s00/checkpoints"))
        let lost = try study(path)
        XCTAssertEqual(lost.status, 0, lost.output)
        XCTAssertTrue(lost.output.contains("erm-s00: finished, but without test.json or a checkpoint to evaluate: the study's test split stays sealed"), lost.output)
        try "{\"step\": 4}".write(to: file, atomically: true, encoding: .utf8)
        let damaged = try study(path, ["--report-only"], ranks: 0)
        XCTAssertEqual(damaged.status, 1, damaged.output)
        XCTAssertTrue(damaged.output.contains("multimix: error: \(file.path): is not a test.json (step, epoch, metrics); delete it"), damaged.output)
    }

    /// A bad variant fails every rank before any MPI work: exit 1, one line naming the variant and the
    /// key, nothing written.
    func testBadVariantStopsTheStudyBeforeAnyRun() throws {
        let path = try writeStudy()
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "{name: multimix}", with: "{name: multimix, set: [\"mixing.alpah=1\"]}")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try study(path)
        XCTAssertEqual(result.status, 1, result.output)
        let errors = result.output.split(separator: "\n").filter { $0.contains("multimix: error:") }
        XCTAssertEqual(errors.count, 2, "one line per rank:\n\(result.output)")
        XCTAssertTrue(errors.allSatisfy { $0.contains("variant 'multimix' (variants[1]): config: mixing.alpah: unknown key (did you mean alpha?)") }, "\(errors)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: runs.path), "a refused study wrote \(runs.path)")
    }

    /// SIGTERM to mpirun mid-run: the run checkpoints, the study stops (ranks exit 75) without a
    /// finished.json; the same command then resumes the run and finishes the study.
    func testSignalStopsTheStudyAndTheSameCommandContinues() throws {
        let path = try writeStudy(seeds: "[0]", trainSubset: 4096, epochs: 2)
        let job = try MPIRun.start(ranks: 2, program: multimix, arguments: ["study", "--config", path, "--run-dir-root", runs.path],
                                   environment: ["MULTIMIX_PROGRESS": "lines"])
        let metrics = studyFolder.appendingPathComponent("erm-s00/metrics.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").isEmpty && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(job.processIdentifier, SIGTERM)
        let result = job.finish(timeout: 120)
        let output = result.output
        XCTAssertFalse(result.timedOut, "the study did not stop within 120 s of SIGTERM: \(output)")
        XCTAssertNotEqual(result.status, 0, output)
        XCTAssertTrue(output.contains("study tiny: stopped by a signal in erm-s00 after its checkpoint; run the same command again to continue"), output)
        XCTAssertNil(FinishedMarker.read(runFolder: studyFolder.appendingPathComponent("erm-s00")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: studyFolder.appendingPathComponent("multimix-s00").path))

        let resumed = try study(path)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming from \(studyFolder.path)/erm-s00/checkpoints/"), resumed.output)
        XCTAssertEqual(try text("results.csv").split(separator: "\n").count, 3)
        let finished = try XCTUnwrap(FinishedMarker.read(runFolder: studyFolder.appendingPathComponent("multimix-s00")))
        XCTAssertEqual(finished.cpu, CPUDescription.current.description, "finished.json names the processor the run finished on")
        let table = try text("results.csv")
        XCTAssertTrue(table.contains(TableCell.csv(CPUDescription.current.description)), table)
    }
}
