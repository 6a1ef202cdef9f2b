import Foundation
import TestSupport
import Training
import XCTest

/// `sbatch launch/slurm.sbatch` on a real one-node Slurm (munged, slurmctld and slurmd on this
/// machine, brought up and down by launch/beds/local-slurm.sh around every test): a job trains with
/// `srun --mpi=pmix` and with mpirun; the time-limit warning (`--signal=B:USR1@N`) checkpoints,
/// requeues and resumes to the parameters of a run that never stopped; `scontrol requeue`,
/// `scancel --signal=TERM --full` and plain `scancel` do what the README says.
///
/// Needs root and apt (the test bed installs slurm-wlm and munge when missing). A machine that cannot
/// run Slurm fails these tests, saying so, unless MULTIMIX_SKIP_SLURM_TESTS=1.
/// Every wait has a deadline; each requeue costs about 35-40 s (cred_expire=30), the bulk of the time.
final class SlurmTests: XCTestCase {
    let bed = SlurmBed(folder: "multimix-slurm-tests", port: 6927)
    var multimix: String { bed.multimix }
    var folder: URL!
    /// When slurmctld started: it checks time limits (and sends `--signal` warnings) every 30 s from then.
    var controllerStart = Date()

    override func setUpWithError() throws {
        if ProcessInfo.processInfo.environment["MULTIMIX_SKIP_SLURM_TESTS"] == "1" {
            throw XCTSkip("MULTIMIX_SKIP_SLURM_TESTS=1")
        }
        folder = try Repository.runFolderWithFashionMNIST(prefix: "slurm")
        _ = try bed.up(skipVariable: "MULTIMIX_SKIP_SLURM_TESTS")
        let pidFile = bed.directory.appendingPathComponent("slurmctld.pid").path
        controllerStart = (try? FileManager.default.attributesOfItem(atPath: pidFile)[.modificationDate] as? Date) ?? Date()
    }

    override func tearDownWithError() throws {
        if folder != nil {
            let down = try bed.down()
            XCTAssertEqual(down.status, 0, down.output)
        }
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    func config(_ name: String, subset: Int = 512, epochs: Int = 2, threads: Int? = 1) throws -> String {
        try SlurmBed.config(name, in: folder, subset: subset, epochs: epochs, threads: threads)
    }

    /// The job long enough to be signalled while it trains: 36 epochs of 32 steps (about 20 s on an
    /// idle machine; 12 epochs once finished in 7 s, before the warning came, which then stopped the final
    /// evaluation instead of training).
    let longSteps = 1152
    func longConfig() throws -> String { try config("long", subset: 2048, epochs: 36) }

    func slurm(_ commandLine: [String], timeout: Double = 30) throws -> MPIRun.Result { try bed.slurm(commandLine, timeout: timeout) }

    /// `sbatch launch/slurm.sbatch CONFIG --run-dir RUN` on 1 node × 2 tasks × 1 CPU; returns the job id
    /// and its output file.
    func submit(_ config: String, run: URL, sbatchFlags: [String] = [], environment: [String: String] = [:]) throws -> (String, URL) {
        try bed.submit(config, run: run, folder: folder, geometry: ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"],
                       sbatchFlags: sbatchFlags, environment: environment)
    }

    func job(_ id: String) throws -> SlurmBed.Job { try bed.job(id) }
    func finish(_ id: String, output: URL, timeout: Double) throws -> String { try bed.finish(id, output: output, timeout: timeout) }
    func text(_ url: URL) -> String { SlurmBed.text(url) }
    @discardableResult
    func waitFor(_ needle: String, count: Int = 1, in output: URL, timeout: Double) -> Date? {
        SlurmBed.waitFor(needle, count: count, in: output, timeout: timeout)
    }
    func seconds(_ from: Date?, _ to: Date?) -> String { SlurmBed.seconds(from, to) }

    func assertBitForBitEqual(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        try SlurmBed.assertBitForBitEqual(a, b, file: file, line: line)
    }

    // MARK: - Tests

    /// A 2-task job runs to the end with `srun --mpi=pmix` and with the mpirun fallback: COMPLETED,
    /// exit 0, rank 0's run folder with its report and final checkpoint; both launchers train the same
    /// parameters.
    func testBatchJobTrainsWithSrunAndWithMpirun() throws {
        let path = try config("tiny", threads: nil)
        var finals: [URL] = []
        for launcher in ["srun", "mpirun"] {
            let start = Date()
            let run = folder.appendingPathComponent(launcher)
            let (id, output) = try submit(path, run: run, environment: ["MULTIMIX_LAUNCHER": launcher])
            XCTAssertEqual(try finish(id, output: output, timeout: 180), "COMPLETED", text(output))
            print("[slurm timing] \(launcher): job \(id) submitted → completed in \(seconds(start, Date()))")
            let log = text(output)
            XCTAssertEqual(try job(id).exitCode, "0:0", log)
            XCTAssertTrue(log.contains(": \(launcher), 2 ranks: "), log)
            XCTAssertTrue(log.contains("[train] 2 ranks x 1 threads (Slurm's --cpus-per-task)"), log)
            XCTAssertTrue(log.contains("done: \(run.path)/report.html"), log)
            XCTAssertTrue(log.contains("ranks finished with status 0"), log)
            for file in ["report.html", "metrics.jsonl", "config.yaml", "checkpoints/latest", "checkpoints/step-000016/model.safetensors"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), "\(launcher): \(file) missing\n\(log)")
            }
            finals.append(run.appendingPathComponent("checkpoints/step-000016"))
        }
        try assertBitForBitEqual(finals[0], finals[1])
    }

    /// `--time=1 --signal=B:USR1@55`: the warning reaches the batch script while the ranks train; they
    /// checkpoint at the next step and exit 75, the script requeues the job, and the rerun (same job
    /// id, SLURM_RESTART_COUNT=1) resumes with `--resume auto` and finishes with exactly the trainable
    /// parameters of a 2-rank run that never stopped.
    func testTimeLimitWarningCheckpointsRequeuesAndResumesBitForBit() throws {
        let path = try longConfig()
        // slurmctld sends the warning at its first limit check (every 30 s from its start) after
        // the nominal time (start + 60 - 55 s): submit so that this check comes 7 s into the job.
        let lead = 7.0
        var check = controllerStart.addingTimeInterval(30)
        while check.timeIntervalSinceNow < lead + 0.5 { check.addTimeInterval(30) }
        Thread.sleep(until: check.addingTimeInterval(-lead))
        let run = folder.appendingPathComponent("warned")
        let (id, output) = try submit(path, run: run, sbatchFlags: ["--time=1", "--signal=B:USR1@55"])
        let submitted = Date()

        let warned = waitFor("SIGUSR1 received", in: output, timeout: 100)
        let checkpointed = waitFor("checkpoint written at step", in: output, timeout: 60)
        let requeued = waitFor("requeueing job \(id)", in: output, timeout: 60)
        let log = text(output)
        XCTAssertTrue(log.contains("ranks stopped (status 75, SIGUSR1)"), log)
        XCTAssertTrue(log.contains("Exited with exit code 75"), log)
        // Give the rerun a longer limit, or its own warning (30 s later) would requeue it once more
        // (that works too, at 35-40 s a round).
        let extendBy = Date().addingTimeInterval(60)
        while Date() < extendBy {
            if (try? job(id).state) == "PENDING", (try? slurm(["scontrol", "update", "JobId=\(id)", "TimeLimit=10"]).status) == 0 { break }
            Thread.sleep(forTimeInterval: 0.2)
        }

        // The run that never stops, while the job waits to run again.
        let straight = folder.appendingPathComponent("straight")
        let reference = try MPIRun.run(ranks: 2, program: multimix, arguments: ["train", "--config", path, "--run-dir", straight.path],
                                       timeout: 240, environment: ["MULTIMIX_PROGRESS": "lines"])
        XCTAssertEqual(reference.status, 0, reference.output)

        let restarted = waitFor("(restart 1)", in: output, timeout: 120)
        let resumed = waitFor("resuming from", in: output, timeout: 60)
        XCTAssertEqual(try finish(id, output: output, timeout: 180), "COMPLETED", text(output))
        let final = text(output)
        XCTAssertEqual(try job(id).restarts, 1, final)
        XCTAssertTrue(final.contains("ranks finished with status 0"), final)
        let step = String(format: "step-%06d", longSteps)
        try assertBitForBitEqual(straight.appendingPathComponent("checkpoints/\(step)"), run.appendingPathComponent("checkpoints/\(step)"))
        print("[slurm timing] USR1 \(seconds(submitted, warned)) after submission; USR1 → checkpoint written \(seconds(warned, checkpointed)); "
              + "requeue → rerun started \(seconds(requeued, restarted)), → resumed training \(seconds(requeued, resumed)); "
              + "whole job \(seconds(submitted, Date()))")
    }

    /// `scontrol requeue JOB`: the ranks checkpoint, Slurm reruns the job and it resumes (the script
    /// does not requeue it a second time: 2 restarts in all below). Then `scancel --signal=TERM --full JOB`: srun answers its
    /// SIGTERM by killing the ranks (no new checkpoint), the script requeues the job, and the rerun
    /// resumes from the last checkpoint and finishes. A plain `scancel`: the ranks checkpoint and the
    /// job ends CANCELLED, not requeued.
    func testScontrolRequeueAndScancelBehaveAsDocumented() throws {
        let path = try longConfig()
        let run = folder.appendingPathComponent("requeued")
        let (id, output) = try submit(path, run: run)
        waitFor("epoch 1/36  step 16/32", in: output, timeout: 120)
        let requeue = Date()
        XCTAssertEqual(try slurm(["scontrol", "requeue", id]).status, 0)
        let checkpointed = waitFor("checkpoint written at step", in: output, timeout: 30)
        let resumed = waitFor("resuming from", in: output, timeout: 120)
        print("[slurm timing] scontrol requeue → checkpoint \(seconds(requeue, checkpointed)), → resumed training \(seconds(requeue, resumed))")
        XCTAssertTrue(text(output).contains("(restart 1)"), text(output))

        // During the rerun: SIGTERM to the batch script and every step.
        waitFor("step 16/32", count: 2, in: output, timeout: 60)
        let cancel = Date()
        XCTAssertEqual(try slurm(["scancel", "--signal=TERM", "--full", id]).status, 0)
        waitFor("requeueing job \(id)", in: output, timeout: 30)
        let resumedAgain = waitFor("resuming from", count: 2, in: output, timeout: 120)
        print("[slurm timing] scancel --signal=TERM --full → resumed training \(seconds(cancel, resumedAgain))")
        XCTAssertEqual(try finish(id, output: output, timeout: 180), "COMPLETED", text(output))
        XCTAssertEqual(try job(id).restarts, 2, text(output))
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(String(format: "checkpoints/step-%06d", longSteps)).path))

        // A plain scancel ends the job for good, after a checkpoint.
        let cancelledRun = folder.appendingPathComponent("cancelled")
        let (cancelled, cancelledOutput) = try submit(path, run: cancelledRun)
        waitFor("epoch 1/36  step 16/32", in: cancelledOutput, timeout: 120)
        XCTAssertEqual(try slurm(["scancel", cancelled]).status, 0)
        waitFor("checkpoint written at step", in: cancelledOutput, timeout: 30)
        XCTAssertEqual(try finish(cancelled, output: cancelledOutput, timeout: 60), "CANCELLED", text(cancelledOutput))
        Thread.sleep(forTimeInterval: 3)
        XCTAssertEqual(try job(cancelled).state, "CANCELLED", "a cancelled job must stay cancelled:\n\(text(cancelledOutput))")
        XCTAssertEqual(try job(cancelled).restarts, 0)
    }
}
