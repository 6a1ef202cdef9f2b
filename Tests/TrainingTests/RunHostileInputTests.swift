import Checkpointing
import Distributed
import Evaluation
import Foundation
import RunConfig
import RunOutputs
import TestSupport
import Training
import XCTest

/// The writers of `multimix` against paths an attacker would plant (the tool runs as root): a link or
/// a device where a report, a grid or a run's lock goes, and `--out` onto a run's own files. Each is
/// one line `multimix: error: …`, exit 1, and the link's target, the device and the run stay as they were.
final class RunHostileInputTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    func multimix(_ arguments: [String], timeout: Double = 120) throws -> MPIRun.Result {
        let tool = MPIRun.executable("multimix")
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw XCTSkip("\(tool) not built (swift build builds it; or set MULTIMIX_BIN_DIR)")
        }
        return try MPIRun.launch([tool] + arguments, timeout: timeout, environment: ["MULTIMIX_PROGRESS": "lines"])
    }

    func assertRefused(_ arguments: [String], _ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try ToolRefusal.assert(arguments, text, file: file, line: line)
    }

    /// A run folder with a metrics log (all `report` needs).
    func runFolder() throws -> URL {
        let run = folder.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try Data("{\"kind\":\"train\",\"step\":1,\"epoch\":0.1,\"loss\":2}\n".utf8).write(to: run.appendingPathComponent("metrics.jsonl"))
        return run
    }

    /// `report --out` onto a link, a device, a folder, the run's own log or its own report: refused,
    /// each target untouched; a regular file is replaced.
    func testReportOutRefusesLinksDevicesAndTheRunsOwnFiles() throws {
        let run = try runFolder()
        let log = run.appendingPathComponent("metrics.jsonl")
        let logText = try String(contentsOf: log, encoding: .utf8)
        let victim = folder.appendingPathComponent("victim.html")
        try Data("precious".utf8).write(to: victim)
        let link = folder.appendingPathComponent("link.html")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: victim)
        let device = folder.appendingPathComponent("full.html")
        try FileManager.default.createSymbolicLink(atPath: device.path, withDestinationPath: "/dev/full")

        try assertRefused(["report", run.path, "--out", link.path], "\(link.path): exists and is a symbolic link, not a regular file")
        try assertRefused(["report", run.path, "--out", device.path], "exists and is a symbolic link")
        try assertRefused(["report", run.path, "--out", "/dev/null"], "--out /dev/null: not an .html file")
        try assertRefused(["report", run.path, "--out", log.path], "not an .html file")
        try assertRefused(["report", run.path, "--out", run.appendingPathComponent("report.html").path], "is the run folder \(run.path)'s own report")
        try assertRefused(["report", run.path, "--out", folder.path + "/"], "not an .html file")
        let folderNamedHTML = folder.appendingPathComponent("dir.html")
        try FileManager.default.createDirectory(at: folderNamedHTML, withIntermediateDirectories: true)
        try assertRefused(["report", run.path, "--out", folderNamedHTML.path], "exists and is a folder")
        XCTAssertEqual(try String(contentsOf: victim, encoding: .utf8), "precious")
        XCTAssertEqual(try String(contentsOf: log, encoding: .utf8), logText)

        let out = folder.appendingPathComponent("compare.html")
        try Data("old".utf8).write(to: out)
        let result = try multimix(["report", run.path, "--out", out.path])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(try String(contentsOf: out, encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    /// Files the tool only peeks at (a run's config.yaml, eval-details.json, finished.json,
    /// checkpoints/latest) planted as a FIFO or a link to /dev/zero are skipped, not read forever.
    func testPlantedFIFOsAndDevicesInARunFolderAreNotReadForever() throws {
        let run = try runFolder()
        XCTAssertEqual(mkfifo(run.appendingPathComponent("config.yaml").path, 0o644), 0)
        try FileManager.default.createSymbolicLink(atPath: run.appendingPathComponent("eval-details.json").path, withDestinationPath: "/dev/zero")
        try FileManager.default.createSymbolicLink(atPath: run.appendingPathComponent("finished.json").path, withDestinationPath: "/dev/zero")
        let checkpoints = run.appendingPathComponent("checkpoints")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(checkpoints.appendingPathComponent("latest").path, 0o644), 0)
        let report = try multimix(["report", run.path, "--out", folder.appendingPathComponent("r.html").path], timeout: 30)
        XCTAssertFalse(report.timedOut, report.output)
        XCTAssertEqual(report.status, 0, report.output)
        XCTAssertNil(try CheckpointStore(folder: checkpoints, keep: 1).latest())
        XCTAssertNil(FinishedMarker.read(runFolder: run))
        XCTAssertNil(EvaluationDetails.read(runFolder: run))
    }

    /// `data inspect --grid` onto a link (here to /dev/full) is refused; the device is never opened.
    func testInspectGridRefusesALink() throws {
        let fashion = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: fashion + "/t10k-labels-idx1-ubyte.gz") else {
            throw XCTSkip("Debian's dataset-fashion-mnist is not installed (launch/setup.sh installs it)")
        }
        let grid = folder.appendingPathComponent("grid.png")
        try FileManager.default.createSymbolicLink(atPath: grid.path, withDestinationPath: "/dev/full")
        try assertRefused(["data", "inspect", fashion, "--grid", grid.path], "\(grid.path): exists and is a symbolic link")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: grid.path), "/dev/full")
    }

    /// A checkpoint with NaN weights (with or without --json) is refused by tensor in one line, not
    /// evaluated into NaN metrics (exit 0) or an NSCocoaErrorDomain dump.
    func testEvalRefusesNonFiniteWeights() throws {
        let store = try CheckpointStore(folder: folder.appendingPathComponent("nan/checkpoints"), keep: 1)
        let weights: [Float] = [0, .nan, 1, 2]
        let checkpoint = try weights.withUnsafeBufferPointer { values in
            try store.save(step: 1, epoch: 0, worldSize: 1, config: TrainingConfig(), metrics: [:],
                           model: [TensorSlice(name: "fc.bias", shape: [4], values: values)], optimizer: [])
        }
        for json in [[], ["--json"]] {
            try assertRefused(["eval", "--checkpoint", checkpoint.path] + json,
                              "\(checkpoint.path)/model.safetensors: fc.bias holds NaN or infinite values (the run diverged before this checkpoint)")
        }
    }

    /// Inputs that are not text files: a device, a FIFO (both were read forever), invalid UTF-8 (it
    /// said "Permission denied" as root), as a train config, a study file or a checkpoint's state.json.
    func testInputsThatAreNotTextFilesAreRefusedAtOnce() throws {
        let fifo = folder.appendingPathComponent("fifo.yaml").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let latin1 = folder.appendingPathComponent("latin1.yaml")
        try Data([0x6E, 0x61, 0x6D, 0x65, 0x3A, 0x20, 0xE9, 0x0A]).write(to: latin1)   // "name: é" in Latin-1
        for command in ["train", "study"] {
            try assertRefused([command, "--config", "/dev/zero"], "is a device, not a regular file; check the path given to --config")
            try assertRefused([command, "--config", fifo], "is a FIFO, not a regular file; check the path given to --config")
            try assertRefused([command, "--config", latin1.path], "is not UTF-8 text (an invalid byte at offset 6); check the path given to --config")
        }
        let store = try CheckpointStore(folder: folder.appendingPathComponent("zero/checkpoints"), keep: 1)
        let checkpoint = try [Float](repeating: 0, count: 4).withUnsafeBufferPointer { values in
            try store.save(step: 1, epoch: 0, worldSize: 1, config: TrainingConfig(), metrics: [:],
                           model: [TensorSlice(name: "fc.bias", shape: [4], values: values)], optimizer: [])
        }
        let state = checkpoint.appendingPathComponent("state.json")
        try FileManager.default.removeItem(at: state)
        try FileManager.default.createSymbolicLink(atPath: state.path, withDestinationPath: "/dev/zero")
        try assertRefused(["eval", "--checkpoint", checkpoint.path], "\(state.path): is a device, not a regular file")
    }

    /// The launch scripts refuse a bad rank count, slot count or config in one line, exit 2, at once
    /// (before building or starting anything): `train.sh CONFIG -1` passed -1 on to every rank,
    /// `slots=0` printed bash's "division by 0", a missing config under slurm.sbatch ~40 lines over 25 s.
    func testLaunchScriptsRefuseBadRanksSlotsAndConfigsInOneLine() throws {
        let config = Repository.root.appendingPathComponent("configs/fashion-mnist-resnet20-erm.yaml").path
        let hostfile = folder.appendingPathComponent("hosts")
        try Data("node01 slots=2\nnode02 slots=0\n".utf8).write(to: hostfile)
        let cases: [([String], String)] = [
            (["launch/train.sh", config, "-1"], "launch/train.sh: RANKS must be a whole number from 1 to 4096 (got '-1')"),
            (["launch/train.sh", config, "abc"], "launch/train.sh: RANKS must be a whole number from 1 to 4096 (got 'abc')"),
            (["launch/train.sh", config, "0"], "launch/train.sh: RANKS must be a whole number from 1 to 4096 (got '0')"),
            (["launch/multinode.sh", hostfile.path, config], "launch/multinode.sh: \(hostfile.path) line 2: node02 slots=0: give each node slots=N"),
            (["launch/slurm.sbatch", "/nonexistent/config.yaml"], "[slurm] CONFIG /nonexistent/config.yaml is not a file"),
        ]
        for (arguments, expected) in cases {
            let started = Date()
            let result = try MPIRun.launch(["bash", Repository.root.appendingPathComponent(arguments[0]).path] + arguments.dropFirst(), timeout: 30)
            let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(result.status, 2, "\(arguments): \(text)")
            XCTAssertTrue(text.hasPrefix(expected) && !text.contains("\n"), "\(arguments): \(text)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 5, "\(arguments)")
        }
    }

    /// The one-line form of a system file error is shared by every subcommand: its advice names no
    /// flag (it named --run-dir, which report, eval and data do not have).
    func testFileErrorAdviceNamesNoFlag() {
        let error = CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: "/x/report.html"])
        let text = ErrorText.oneLine(error)
        XCTAssertTrue(text.hasPrefix("/x/report.html: "), text)
        XCTAssertFalse(text.contains("--"), text)
    }

    /// The one error line's shape, shared by `JobExit.report` and the watchdog's abort: the rank only
    /// in a job of more than one, the context only where given.
    func testErrorLineShape() {
        XCTAssertEqual(ErrorLine.format("bad"), "multimix: error: bad")
        XCTAssertEqual(ErrorLine.format("bad", rank: 0, size: 1, context: "erm-s00"), "multimix: error: erm-s00: bad")
        XCTAssertEqual(ErrorLine.format("bad", rank: 3, size: 4), "multimix: error: rank 3: bad")
        XCTAssertEqual(ErrorLine.format("bad", rank: 1, size: 2, context: "erm-s00"), "multimix: error: rank 1: erm-s00: bad")
    }

    /// A link planted at RUN/.lock is not followed: its target does not receive the pid.
    func testTrainRefusesALinkAtTheRunLock() throws {
        let run = folder.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let victim = folder.appendingPathComponent("victim")
        try Data("precious\n".utf8).write(to: victim)
        try FileManager.default.createSymbolicLink(at: run.appendingPathComponent(".lock"), withDestinationURL: victim)
        let config = Repository.root.appendingPathComponent("configs/fashion-mnist-resnet20-erm.yaml").path
        try assertRefused(["train", "--config", config, "--run-dir", run.path, "--max-steps", "1"],
                          "\(run.path)/.lock: exists and is a symbolic link, not a regular file")
        XCTAssertEqual(try String(contentsOf: victim, encoding: .utf8), "precious\n")
    }
}
