#if canImport(Glibc)
import Checkpointing
import Glibc
#endif
import Foundation
import TestSupport
import Training
import XCTest

/// A node failure under a real 3-node Slurm on this machine (`launch/beds/local-slurm.sh up --nodes 3`:
/// slurmctld here, one slurmd per network namespace tsnode1..3 on 10.81.0.0/24, apart from a user's
/// `launch/beds/local-cluster.sh up` (node*, 10.77.0) and `launch/beds/local-slurm.sh up --nodes N` (snode*,
/// 10.79.0) and from ClusterTests (tnode*, 10.78.0)). Two `--requeue` jobs of 3 tasks, 1 per node
/// (`--nodes=3 --ntasks-per-node=1`), train across the 3 nodes; tsnode3's link is cut after their
/// first checkpoint. What Slurm does, checked and timed: tsnode3 goes `down*` and both jobs are
/// requeued; a job that asks for 3 nodes then waits (ReqNodeNotAvail) until tsnode3 is back.
/// - "shrunk": the user lets it go on without the lost node (`scontrol update JobId=ID NumNodes=2
///   NumTasks=2`): it runs again on the 2 surviving nodes (3 ranks still: the batch step keeps
///   SLURM_NTASKS), resumes from its newest checkpoint and completes.
/// - "waited": tsnode3 comes back (link up, then `scontrol update NodeName=tsnode3 State=RESUME`, as
///   an admin would: on its own slurmctld noticed a returned node only 6 minutes after setting it
///   down); the rerun on all 3 nodes (its first srun retried where a stale step makes it fail)
///   resumes and completes.
///
/// Needs root, network namespaces and Slurm (launch/beds/local-slurm.sh installs it): elsewhere it fails
/// saying so, unless MULTIMIX_SKIP_CLUSTER_TESTS=1 (or MULTIMIX_SKIP_SLURM_TESTS=1) skips it. Every
/// wait has a deadline (a missed one ends the test). Most of its time is Slurm's own timeouts
/// (SlurmdTimeout=30 before a node is down, cred_expire=30 before a requeued job runs again).
final class SlurmNodeTests: XCTestCase {
    static let node = "tsnode"
    static let lost = "\(node)3"
    let bed = SlurmBed(folder: "multimix-slurm-node-tests", port: 6937, upArguments: ["--nodes", "3"],
                       environment: ["MULTIMIX_SLURM_NODE_PREFIX": node, "MULTIMIX_SLURM_SUBNET": "10.81.0",
                                     "MULTIMIX_SLURM_BRIDGE": "br-mmx-tslurm"])
    var folder: URL!

    override func setUpWithError() throws {
        if ProcessInfo.processInfo.environment["MULTIMIX_SKIP_SLURM_TESTS"] == "1" {
            throw XCTSkip("MULTIMIX_SKIP_SLURM_TESTS=1")
        }
        try requireClusterTestBed()  // root and network namespaces, or MULTIMIX_SKIP_CLUSTER_TESTS=1
        folder = try Repository.runFolderWithFashionMNIST(prefix: "slurm-nodes")
        _ = try bed.down()  // what an interrupted earlier run may have left
        _ = try bed.up(skipVariable: "MULTIMIX_SKIP_CLUSTER_TESTS")
    }

    override func tearDownWithError() throws {
        guard let folder else { return }
        let down = try bed.down()
        XCTAssertEqual(down.status, 0, down.output)
        // Nothing left: no node, no rank of these jobs.
        let namespaces = try MPIRun.launch(["ip", "netns", "list"], timeout: 10).output
        XCTAssertFalse(namespaces.contains(Self.node), "namespaces left: \(namespaces)")
        let strays = try MPIRun.launch(["pgrep", "-f", "multimix train --config \(folder.path)"], timeout: 10).output
        XCTAssertTrue(strays.isEmpty, "multimix processes left: \(strays)")
        // A failed run's job outputs and run folders stay for a look.
        if testRun?.totalFailureCount == 0 { try? FileManager.default.removeItem(at: folder) } else { print("[slurm nodes] kept \(folder.path)") }
    }

    struct Missed: Error, CustomStringConvertible { let description: String }

    /// Polls `condition` every 0.25 s for at most `timeout` s; returns when it first held. Past the
    /// deadline it throws, which ends the test: every later step depends on this one.
    @discardableResult
    func until(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws -> Date {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return Date() }
            Thread.sleep(forTimeInterval: 0.25)
        }
        throw Missed(description: "not within \(Int(timeout)) s: \(what)")
    }

    /// When `needle` first appeared in a job's output (at most `timeout` s); throws past the deadline.
    @discardableResult
    func seen(_ needle: String, in output: URL, timeout: Double) throws -> Date {
        guard let date = SlurmBed.waitFor(needle, in: output, timeout: timeout) else {
            throw Missed(description: "'\(needle)' not in \(output.lastPathComponent) within \(Int(timeout)) s")
        }
        return date
    }

    /// tsnode3's state as sinfo shows it (`mixed`, `mixed*` once it does not answer, `down*`, `idle`).
    func lostNodeState() throws -> String {
        try bed.slurm(["sinfo", "-h", "-n", Self.lost, "-o", "%T"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func setLink(_ state: String) throws {
        let result = try MPIRun.launch(["ip", "link", "set", "veth-\(Self.lost)", state], timeout: 10)
        XCTAssertEqual(result.status, 0, result.output)
    }

    /// The step a run resumed from ("resuming from .../step-000005 (step 5, epoch 1)").
    func resumedStep(_ log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.hasPrefix("resuming from ") }),
              let range = line.range(of: "(step ") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    func newestCheckpointStep(_ run: URL) throws -> Int? {
        try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3).newestGood().checkpoint?.state.step
    }

    // MARK: - Tests

    func testALostNodeRequeuesTheJobAndTheRerunResumesOnTheSurvivorsOrOnTheNodeBack() throws {
        let epochs = 20, steps = 20 * 5  // 512 images, 3 ranks x 32 a step: 5 steps an epoch
        let path = try SlurmBed.config("lost", in: folder, subset: 512, epochs: epochs)
        let shrunkRun = folder.appendingPathComponent("shrunk"), waitedRun = folder.appendingPathComponent("waited")
        let allNodes = "\(Self.node)[1-3]", survivors = "\(Self.node)[1-2]"
        // Held, then released together: both start at once on all 3 nodes.
        let geometry = ["--nodes=3", "--ntasks-per-node=1", "--cpus-per-task=1"]
        let (shrunk, shrunkOutput) = try bed.submit(path, run: shrunkRun, folder: folder, geometry: geometry, sbatchFlags: ["--requeue", "--hold"])
        let (waited, waitedOutput) = try bed.submit(path, run: waitedRun, folder: folder, geometry: geometry, sbatchFlags: ["--requeue", "--hold"])
        let jobs = [shrunk, waited]
        let submitted = Date()
        XCTAssertEqual(try bed.slurm(["scontrol", "release", jobs.joined(separator: ",")]).status, 0)
        try until("both jobs running on \(allNodes)", timeout: 60) {
            try jobs.allSatisfy { let job = try bed.job($0); return job.state == "RUNNING" && job.nodes == allNodes }
        }
        let checkpointed = try until("both runs' first checkpoint", timeout: 90) {
            [shrunkRun, waitedRun].allSatisfy { FileManager.default.fileExists(atPath: $0.appendingPathComponent("checkpoints/latest").path) }
        }
        for id in jobs { XCTAssertEqual(try bed.job(id).state, "RUNNING", "job \(id) ended before the link was cut") }
        let newestAtCut = try [shrunkRun, waitedRun].map { try newestCheckpointStep($0) ?? 0 }
        try setLink("down")
        let cut = Date()

        // tsnode3 stops answering and is set down; both jobs are requeued and wait for it.
        let notResponding = try until("\(Self.lost) not responding", timeout: 60) { try lostNodeState().hasSuffix("*") }
        let nodeDown = try until("\(Self.lost) down", timeout: 90) { try lostNodeState().hasPrefix("down") }
        let requeued = try until("both jobs requeued and pending", timeout: 60) {
            try jobs.allSatisfy { let job = try bed.job($0); return job.restarts == 1 && job.state == "PENDING" }
        }

        // "shrunk" goes on without tsnode3.
        XCTAssertEqual(try bed.slurm(["scontrol", "update", "JobId=\(shrunk)", "NumNodes=2", "NumTasks=2"]).status, 0)
        let shrunkRerun = try seen("(restart 1)", in: shrunkOutput, timeout: 120)
        let shrunkResumed = try seen("resuming from", in: shrunkOutput, timeout: 60)
        XCTAssertTrue(SlurmBed.text(shrunkOutput).contains("(restart 1) on \(survivors): srun, 3 ranks"), SlurmBed.text(shrunkOutput))
        XCTAssertEqual(try bed.finish(shrunk, output: shrunkOutput, timeout: 120), "COMPLETED", SlurmBed.text(shrunkOutput))
        // "waited" has not run meanwhile (its reason: BeginTime, None, Resources or ReqNodeNotAvail, as the scheduler last saw it).
        let pending = try bed.job(waited)
        XCTAssertEqual(pending.state, "PENDING", "job \(waited) ran without \(Self.lost):\n\(SlurmBed.text(waitedOutput))")
        let shrunkDone = Date()

        // tsnode3 back: the link, then the node; "waited" runs again on all 3 nodes.
        try setLink("up")
        XCTAssertEqual(try bed.slurm(["scontrol", "update", "NodeName=\(Self.lost)", "State=RESUME"]).status, 0)
        let linkBack = Date()
        let nodeBack = try until("\(Self.lost) back in service", timeout: 60) { let state = try lostNodeState(); return !state.hasPrefix("down") && !state.hasSuffix("*") }
        let waitedRerun = try seen("(restart 1)", in: waitedOutput, timeout: 60)
        let waitedResumed = try seen("resuming from", in: waitedOutput, timeout: 60)
        XCTAssertEqual(try bed.finish(waited, output: waitedOutput, timeout: 120), "COMPLETED", SlurmBed.text(waitedOutput))
        let waitedDone = Date()
        let waitedLog = SlurmBed.text(waitedOutput)
        XCTAssertTrue(waitedLog.contains("(restart 1) on \(allNodes): srun, 3 ranks"), waitedLog)
        let retried = waitedLog.contains("trying once more")
        XCTAssertLessThanOrEqual(waitedLog.components(separatedBy: "trying once more").count - 1, 1, "srun retried more than once:\n\(waitedLog)")

        for (index, (id, output, run)) in [(shrunk, shrunkOutput, shrunkRun), (waited, waitedOutput, waitedRun)].enumerated() {
            let log = SlurmBed.text(output), job = try bed.job(id)
            XCTAssertEqual(job.exitCode, "0:0", log)
            XCTAssertEqual(job.restarts, 1, log)
            XCTAssertTrue(log.contains("(restart 0) on \(allNodes): srun, 3 ranks"), "the first run's lines are kept (--open-mode=append):\n\(log)")
            XCTAssertTrue(log.contains("ranks finished with status 0"), log)
            let from = resumedStep(log)
            XCTAssertNotNil(from, log)
            XCTAssertGreaterThanOrEqual(from ?? 0, max(5, newestAtCut[index]), "resumed from an older checkpoint than the newest at the cut:\n\(log)")
            XCTAssertEqual(try newestCheckpointStep(run), steps, "the final checkpoint does not load:\n\(log)")
        }
        // Both reruns had 3 ranks, as the first runs: resumed from different steps, they end bit for bit equal.
        let final = String(format: "checkpoints/step-%06d", steps)
        try SlurmBed.assertBitForBitEqual(shrunkRun.appendingPathComponent(final), waitedRun.appendingPathComponent(final))

        let s = SlurmBed.seconds
        print("[slurm nodes timing] submitted → first checkpoints \(s(submitted, checkpointed)); link cut → \(Self.lost) not responding \(s(cut, notResponding)), "
              + "→ down \(s(cut, nodeDown)), → both jobs requeued \(s(cut, requeued)); "
              + "shrunk to 2 nodes: requeue → rerun on \(survivors) \(s(requeued, shrunkRerun)), → resumed training \(s(requeued, shrunkResumed)) "
              + "(step \(resumedStep(SlurmBed.text(shrunkOutput)) ?? -1); newest at the cut \(newestAtCut[0])), → completed \(s(requeued, shrunkDone)); "
              + "waited: link back + RESUME → node in service \(s(linkBack, nodeBack)), → rerun on \(allNodes) \(s(linkBack, waitedRerun)) (pending until then, last reason \(pending.reason)), "
              + "→ resumed training \(s(linkBack, waitedResumed)) (step \(resumedStep(waitedLog) ?? -1); newest at the cut \(newestAtCut[1]); "
              + "first srun \(retried ? "failed on a stale step, retried" : "worked at once")), → completed \(s(linkBack, waitedDone)); "
              + "whole scenario \(s(submitted, waitedDone))")
    }
}
