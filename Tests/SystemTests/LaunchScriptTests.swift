import Checkpointing
import Foundation
import SwiftMPI
import TestSupport
import Training
import XCTest

/// The user launchers for real: launch/train.sh and launch/multinode.sh (over a hostfile of localhost
/// slots) train, pass a stop signal on at once, and leave the threads per rank to `multimix train`.
final class LaunchScriptTests: XCTestCase {
    let multimix = MPIRun.executable("multimix")
    var folder: URL!

    override func setUpWithError() throws {
        folder = try Repository.runFolderWithFashionMNIST(prefix: "launch")
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// launch/train.sh and launch/multinode.sh (with a hostfile of localhost slots), for real.
    /// SIGTERM to `launch/train.sh` reaches the ranks at once (as SIGUSR1): they checkpoint at the next
    /// step boundary and the script ends with the ranks' 75 within seconds, not after mpirun's kill
    /// sequence (which delays SIGTERM by its whole timeout).
    /// SIGTERM to either launcher (one node: train.sh; several: multinode.sh, here over a localhost
    /// hostfile) reaches the ranks at once as SIGUSR1: a checkpoint at the next step boundary, exit 75.
    func testTheLaunchScriptsPassAStopSignalOnAtOnce() throws {
        let hostfile = folder.appendingPathComponent("signal-hosts")
        try "localhost slots=2\n".write(to: hostfile, atomically: true, encoding: .utf8)
        let launchers: [(name: String, arguments: (String, String) -> [String])] = [
            ("train.sh", { config, run in ["launch/train.sh", config, "2", "--run-dir", run] }),
            ("multinode.sh", { config, run in ["launch/multinode.sh", hostfile.path, config, "--run-dir", run] }),
        ]
        for launcher in launchers {
            let run = folder.appendingPathComponent("signal-\(launcher.name)")
            let script = launcher.arguments(try SlurmBed.config("signal-\(launcher.name)", in: folder, subset: 512, epochs: 50), run.path)
            let job = try MPIRun.start(["bash", Repository.root.appendingPathComponent(script[0]).path] + script.dropFirst(),
                                       environment: ["MULTIMIX_SKIP_BUILD": "1", "MULTIMIX_THREADS": "1"])
            XCTAssertNotNil(SlurmBed.waitFor("{", in: run.appendingPathComponent("metrics.jsonl"), timeout: 120), launcher.name)
            let signalled = Date()
            kill(job.processIdentifier, SIGTERM)
            let result = job.finish(timeout: 60)
            XCTAssertFalse(result.timedOut, "\(launcher.name) did not end within 60 s of SIGTERM: \(result.output)")
            XCTAssertEqual(result.status, 75, "\(launcher.name): \(result.output)")
            let announced = result.output.components(separatedBy: "signal received: checkpoint written at step ").dropFirst().first
                .flatMap { Int($0.prefix { $0.isNumber }) }
            XCTAssertNotNil(announced, "\(launcher.name): \(result.output)")
            let (checkpoint, _) = try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3).newestGood()
            XCTAssertEqual(checkpoint?.state.step, announced, launcher.name)
            print("TrainerRunTests: \(launcher.name) SIGTERM -> exit \(result.status) in \(String(format: "%.1f", Date().timeIntervalSince(signalled))) s")
        }
    }

    /// launch/train.sh and launch/multinode.sh train, and neither decides the threads: with
    /// training.threads left out of the config, multimix shares this machine's CPUs between the ranks
    /// on it, says so, and writes its choice into the run's config.yaml; MULTIMIX_THREADS (passed on
    /// to every node by multinode.sh) sets them instead, and the run started by train.sh resumes under
    /// it (threads do not make another run).
    func testLaunchScriptsTrain() throws {
        let repository = Repository.root
        let path = try SlurmBed.config("launched", in: folder, subset: 512, epochs: 1, threads: nil)
        let one = folder.appendingPathComponent("one")
        let single = try MPIRun.launch(["bash", "launch/train.sh", path, "2", "--run-dir", one.path],
                                       timeout: 300, environment: ["MULTIMIX_SKIP_BUILD": "1"], currentDirectory: repository)
        XCTAssertEqual(single.status, 0, single.output)
        let cpus = LaunchEnvironment.usableCPUs(), shared = max(1, cpus / 2)
        XCTAssertTrue(single.output.contains("[train] 2 ranks x \(shared) threads (\(cpus) CPUs / 2 ranks on this node)"), single.output)
        let written = try String(contentsOf: one.appendingPathComponent("config.yaml"), encoding: .utf8)
        XCTAssertTrue(written.contains("threads: \(shared)\n"), written)

        let hostfile = folder.appendingPathComponent("hosts")
        try "localhost slots=2\n".write(to: hostfile, atomically: true, encoding: .utf8)
        let threads = shared == 1 ? 2 : 1
        let multi = try MPIRun.launch(["bash", "launch/multinode.sh", hostfile.path, path, "--run-dir", one.path, "--set", "training.epochs=2"],
                                      timeout: 300, environment: ["MULTIMIX_THREADS": "\(threads)"], currentDirectory: repository)
        XCTAssertEqual(multi.status, 0, multi.output)
        XCTAssertTrue(multi.output.contains("[train] 2 ranks x \(threads) threads (training.threads)"), multi.output)
        XCTAssertTrue(multi.output.contains("resuming from "), multi.output)
        let (checkpoint, _) = try CheckpointStore(folder: one.appendingPathComponent("checkpoints"), keep: 3).newestGood()
        XCTAssertEqual(checkpoint?.state.epoch, 2, multi.output)
    }

    /// MULTIMIX_THREADS must be a thread count: anything else stops `multimix train` before MPI starts,
    /// in one line naming the variable; `--set training.threads` wins over it.
    func testMultimixThreadsIsCheckedAndTheCommandLineWins() throws {
        let path = try SlurmBed.config("threads", in: folder, subset: 512, epochs: 1)
        for bad in ["0", "abc", "100000"] {
            let result = try MPIRun.launch([multimix, "train", "--config", path], timeout: 60, environment: ["MULTIMIX_THREADS": bad])
            XCTAssertEqual(result.status, 1, result.output)
            XCTAssertTrue(result.output.contains("multimix: error: MULTIMIX_THREADS must be a whole number from 1 to 256 (got '\(bad)')"), result.output)
        }
        let run = folder.appendingPathComponent("threads")
        let result = try MPIRun.launch(["mpirun", "-np", "1"] + MPIRun.localFlags
                                       + [multimix, "train", "--config", path, "--run-dir", run.path, "--max-steps", "1", "--set", "training.threads=2"],
                                       timeout: 120, environment: ["MULTIMIX_THREADS": "1", "MULTIMIX_PROGRESS": "lines"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("[train] 1 ranks x 2 threads (training.threads)"), result.output)
    }

    /// srun can exit 0 although its step never launched (seen after a node failure: "task 2 launch
    /// failed", "Job step aborted", status 0). launch/slurm.sbatch counts that as a failure and tries
    /// once more; a step that does not launch twice ends the job with status 1, not a silent success.
    /// A stand-in srun on PATH plays Slurm (no cluster needed); rank output passes through unchanged.
    func testSlurmScriptTriesAgainWhenSrunSaysItsStepDidNotLaunch() throws {
        let bin = folder.appendingPathComponent("fake-slurm"), calls = folder.appendingPathComponent("srun-calls")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let srun = bin.appendingPathComponent("srun")
        try """
        #!/bin/bash
        n=$(( $(cat '\(calls.path)' 2>/dev/null || echo 0) + 1 )); echo $n > '\(calls.path)'
        if [ "$n" -le "$NOT_LAUNCHED" ]; then
            echo "srun: error: task 2 launch failed: Unspecified error" >&2
            echo "srun: Job step aborted: Waiting up to 7 seconds for job step to finish." >&2
            exit 0
        fi
        echo "rank line on stderr" >&2
        exit 0

        """.write(to: srun, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(srun.path, 0o755), 0)
        let config = try SlurmBed.config("srun", in: folder, subset: 512, epochs: 1)
        for (notLaunched, status, tries) in [(0, 0, 1), (1, 0, 2), (2, 1, 2)] {
            try? FileManager.default.removeItem(at: calls)
            let result = try MPIRun.launch(["bash", "launch/slurm.sbatch", config], timeout: 60,
                                           environment: ["PATH": "\(bin.path):" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                                                         "SLURM_JOB_ID": "7", "MULTIMIX_BIN": "/bin/true", "NOT_LAUNCHED": "\(notLaunched)"],
                                           currentDirectory: Repository.root)
            let context = "\(notLaunched) steps not launched:\n\(result.output)"
            XCTAssertEqual(result.status, Int32(status), context)
            XCTAssertEqual(try String(contentsOf: calls, encoding: .utf8), "\(tries)\n", context)
            XCTAssertEqual(result.output.components(separatedBy: "srun exited 0 but its step did not launch (srun: error: task 2 launch failed: Unspecified error)").count - 1,
                           notLaunched, context)
            XCTAssertTrue(result.output.contains("ranks finished with status \(status)"), context)
            XCTAssertEqual(result.output.contains("rank line on stderr"), status == 0, context)
        }
    }

    /// launch/keep-study.sh, run from a copy of the script in a scratch tree (it works relative to its
    /// own folder): a study's finished runs are kept without checkpoints, an unfinished one is not, a
    /// linked file is refused by name, `--restore` brings the kept runs back without touching a live
    /// run folder, and a name that is not a study file is refused.
    func testKeepStudyKeepsFinishedRunsAndRestoresThem() throws {
        let tree = folder.appendingPathComponent("tree"), fileManager = FileManager.default
        for dir in ["launch", "configs/studies", "runs/s/a-s00/checkpoints", "runs/s/b-s00", "runs/s/c-s00"] {
            try fileManager.createDirectory(at: tree.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try fileManager.copyItem(at: Repository.root.appendingPathComponent("launch/keep-study.sh"),
                                 to: tree.appendingPathComponent("launch/keep-study.sh"))
        try "name: s\n".write(to: tree.appendingPathComponent("configs/studies/s.yaml"), atomically: true, encoding: .utf8)
        func write(_ text: String, _ path: String) throws {
            try text.write(to: tree.appendingPathComponent(path), atomically: true, encoding: .utf8)
        }
        for run in ["a-s00", "b-s00"] {
            try write("config \(run)", "runs/s/\(run)/config.yaml")
            try write("metrics \(run)", "runs/s/\(run)/metrics.jsonl")
            try write("finished \(run)", "runs/s/\(run)/finished.json")
        }
        try write("test a", "runs/s/a-s00/test.json")
        try write("weights", "runs/s/a-s00/checkpoints/latest")
        try write("unfinished", "runs/s/c-s00/metrics.jsonl")
        func keep(_ arguments: [String]) throws -> MPIRun.Result {
            try MPIRun.launch(["bash", "launch/keep-study.sh"] + arguments, timeout: 30, currentDirectory: tree)
        }
        let kept = try keep(["s"])
        XCTAssertEqual(kept.status, 0, kept.output)
        XCTAssertTrue(kept.output.contains("2 run(s) kept in docs/studies/s/runs"), kept.output)
        let keptRuns = tree.appendingPathComponent("docs/studies/s/runs")
        XCTAssertEqual(try fileManager.contentsOfDirectory(atPath: keptRuns.path).sorted(), ["a-s00", "b-s00"])
        XCTAssertEqual(try fileManager.contentsOfDirectory(atPath: keptRuns.appendingPathComponent("a-s00").path).sorted(),
                       ["config.yaml", "finished.json", "metrics.jsonl", "test.json"])
        XCTAssertEqual(try keep(["s"]).output.contains("0 run(s) kept"), true, "an unchanged finished run is copied again")

        // A linked file in a finished run is refused by name, and the run is not half-kept.
        try write("finished again", "runs/s/b-s00/finished.json")
        try fileManager.createSymbolicLink(atPath: tree.appendingPathComponent("runs/s/b-s00/test.json").path, withDestinationPath: "/etc/passwd")
        let linked = try keep(["s"])
        XCTAssertEqual(linked.status, 2, linked.output)
        XCTAssertTrue(linked.output.contains("b-s00/test.json is not a regular file"), linked.output)
        XCTAssertEqual(try String(contentsOf: keptRuns.appendingPathComponent("b-s00/finished.json"), encoding: .utf8), "finished b-s00")
        XCTAssertEqual(try fileManager.contentsOfDirectory(atPath: keptRuns.path).sorted(), ["a-s00", "b-s00"], "a staging folder was left")

        // --restore: the kept runs come back where runs/ lost them; a live run folder stays as it is.
        try fileManager.removeItem(at: tree.appendingPathComponent("runs/s/a-s00"))
        let restored = try keep(["s", "--restore"])
        XCTAssertEqual(restored.status, 0, restored.output)
        XCTAssertTrue(restored.output.contains("1 run(s) restored into runs/s"), restored.output)
        XCTAssertEqual(try String(contentsOf: tree.appendingPathComponent("runs/s/a-s00/test.json"), encoding: .utf8), "test a")
        XCTAssertEqual(try String(contentsOf: tree.appendingPathComponent("runs/s/b-s00/finished.json"), encoding: .utf8), "finished again")

        let unknown = try keep(["nope"])
        XCTAssertEqual(unknown.status, 2, unknown.output)
        XCTAssertTrue(unknown.output.contains("no study configs/studies/nope.yaml"), unknown.output)
        XCTAssertEqual(try keep(["../s"]).status, 2)
    }
}
