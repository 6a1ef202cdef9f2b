#if canImport(Glibc)
import Checkpointing
import RunOutputs
import Glibc
#endif
import Foundation
import TestSupport
import Training
import XCTest

/// launch/multinode.sh across a 3-node cluster on this machine (launch/beds/local-cluster.sh: network
/// namespaces on a bridge, Open MPI's rsh launcher through an agent, a private scratch folder per
/// node): one rank per node, real TCP between them, the run folder on rank 0's node only; and a node
/// whose link is cut mid-run. Needs root and network namespaces (CI has both): elsewhere these tests
/// fail saying so, unless MULTIMIX_SKIP_CLUSTER_TESTS=1 skips them.
final class ClusterTests: XCTestCase {
    /// The test bed's folder: node K's private files are nodes/tnodeK, seen on node K as scratch/.
    let clusterDirectory = URL(fileURLWithPath: "/tmp/multimix-cluster-tests")
    /// The test bed's own names and network, apart from a user's `launch/beds/local-cluster.sh up`
    /// (node1..N on 10.77.0.0/24), which may run beside it.
    static let node = "tnode"
    static let subnet = "10.78.0"
    let script = Repository.root.appendingPathComponent("launch/beds/local-cluster.sh").path
    let multinode = Repository.root.appendingPathComponent("launch/multinode.sh").path
    var folder: URL!

    var clusterEnvironment: [String: String] {
        ["MULTIMIX_CLUSTER_DIR": clusterDirectory.path, "MULTIMIX_CLUSTER_BRIDGE": "br-mmx-test",
         "MULTIMIX_CLUSTER_NODE_PREFIX": Self.node, "MULTIMIX_CLUSTER_SUBNET": Self.subnet]
    }

    func cluster(_ arguments: [String]) throws -> MPIRun.Result {
        try MPIRun.launch(["bash", script] + arguments, timeout: 60, environment: clusterEnvironment)
    }

    override func setUpWithError() throws {
        try requireClusterTestBed()
        folder = try Repository.runFolderWithFashionMNIST(prefix: "cluster")
        _ = try cluster(["down"])  // what an interrupted earlier run may have left
        let up = try cluster(["up", "3"])
        guard up.status == 0 else {
            _ = try? cluster(["down"])
            throw ClusterUnavailable(description: "launch/beds/local-cluster.sh up 3 failed (status \(up.status)); set MULTIMIX_SKIP_CLUSTER_TESTS=1 to skip these tests\n\(up.output)")
        }
    }

    override func tearDownWithError() throws {
        guard ProcessInfo.processInfo.environment["MULTIMIX_SKIP_CLUSTER_TESTS"] != "1", getuid() == 0 else { return }
        let down = try cluster(["down"])
        XCTAssertEqual(down.status, 0, down.output)
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// A tiny Fashion-MNIST config (512 images, 3 ranks x 32: 5 steps per epoch).
    func config(_ name: String, epochs: Int, evalEvery: Int) throws -> String {
        let text = """
            name: \(name)
            seed: 7
            data: {dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: 512, augment: {crop_padding: 0, horizontal_flip: false}}
            model: {name: resnet20, width: 0.25}
            mixing: {method: multimix, n: 64, alpha: [0.5, 2.0], probability: 1.0}
            optimizer: {lr: 0.05, momentum: 0.9, weight_decay: 0.0001}
            schedule: {kind: cosine}
            training: {epochs: \(epochs), batch_size: 32, threads: 1, log_every_steps: 1}
            distributed: {check_every_steps: 1}
            eval: {every_epochs: \(evalEvery)}
            checkpoint: {every_epochs: 1, keep: 3}

            """
        let url = folder.appendingPathComponent("\(name).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// launch/multinode.sh over the test bed's hostfile and agent, TCP only (`--mca btl tcp,self`).
    var launchEnvironment: [String: String] {
        ["MULTIMIX_RSH_AGENT": clusterDirectory.appendingPathComponent("rsh-agent").path,
         "MULTIMIX_MPI_SUBNET": "\(Self.subnet).0/24",
         "MULTIMIX_MPIRUN_FLAGS": "--mca btl tcp,self",
         "MULTIMIX_THREADS": "1"]
    }

    func launchCommand(config: String, run: String, arguments: [String] = []) -> [String] {
        ["bash", multinode, clusterDirectory.appendingPathComponent("hostfile").path, config,
         "--run-dir", clusterDirectory.appendingPathComponent("scratch/runs/\(run)").path] + arguments
    }

    /// Node K's private copy of the run folder (the agent mounts nodes/tnodeK over scratch/ on node K).
    func runFolder(_ run: String, node: Int) -> URL {
        clusterDirectory.appendingPathComponent("nodes/\(Self.node)\(node)/runs/\(run)")
    }

    /// Bytes through node K's veth, both ways.
    func vethBytes(node: Int) -> Int {
        ["rx_bytes", "tx_bytes"].reduce(0) { total, name in
            let text = (try? String(contentsOfFile: "/sys/class/net/veth-\(Self.node)\(node)/statistics/\(name)", encoding: .utf8)) ?? ""
            return total + (Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
        }
    }

    /// The processes in node K's namespace.
    func processes(node: Int) throws -> [String] {
        try MPIRun.launch(["ip", "netns", "pids", "\(Self.node)\(node)"], timeout: 10).output.split(separator: "\n").map(String.init)
    }

    // MARK: - Tests

    /// 3 nodes x 1 rank over TCP: the job trains, checkpoints and evaluates every epoch; the run folder
    /// exists on node1 (rank 0) only; every node's link carried the all-reduce traffic; stopped after
    /// 7 of 10 steps, the run resumes (`--resume auto`) on node1's checkpoint and finishes.
    func testThreeNodesTrainOverTCPWithTheRunFolderOnRankZerosNodeOnly() throws {
        let path = try config("tcp", epochs: 2, evalEvery: 1)
        let before = (1...3).map { vethBytes(node: $0) }
        let started = Date()
        let first = try MPIRun.launch(launchCommand(config: path, run: "tcp", arguments: ["--max-steps", "7"]),
                                      timeout: 150, environment: launchEnvironment)
        XCTAssertFalse(first.timedOut, first.output)
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.output.contains("[multinode] 3 ranks from"), first.output)
        XCTAssertTrue(first.output.contains("eval after epoch 1"), first.output)
        for node in 1...3 {
            let moved = vethBytes(node: node) - before[node - 1]
            XCTAssertGreaterThan(moved, 200_000, "node\(node)'s link carried only \(moved) bytes: the ranks did not talk over TCP")
        }

        let run = runFolder("tcp", node: 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("config.yaml").path), first.output)
        for node in 2...3 {
            XCTAssertFalse(FileManager.default.fileExists(atPath: runFolder("tcp", node: node).path), "node\(node) has a run folder")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: clusterDirectory.appendingPathComponent("scratch/runs").path),
                       "the launch host's own scratch folder has the run folder")
        let store = try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3)
        XCTAssertEqual(store.newestGood().checkpoint?.state.step, 7, "\(store.checkpointFolders())")

        let second = try MPIRun.launch(launchCommand(config: path, run: "tcp", arguments: ["--resume", "auto"]),
                                       timeout: 150, environment: launchEnvironment)
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("resuming from"), second.output)
        XCTAssertEqual(store.newestGood().checkpoint?.state.step, 10, "\(store.checkpointFolders())")
        let evaluated = try MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).filter { $0.kind == .eval }.map(\.step)
        XCTAssertEqual(evaluated, [5, 10], "an evaluation after each epoch")
        for node in 2...3 {
            XCTAssertFalse(FileManager.default.fileExists(atPath: runFolder("tcp", node: node).path), "node\(node) has a run folder")
        }
        print("ClusterTests: 3-node run and resume took \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// node3's link cut after the first checkpoint: the job ends within 60 s, non-zero, with one line
    /// naming node3; nothing is left running on any node; the newest checkpoint loads; with the link
    /// back, `--resume auto` continues from it and finishes.
    func testALostNodeEndsTheJobWithinAMinuteAndTheRunResumes() throws {
        let path = try config("lost", epochs: 16, evalEvery: 100)
        let run = runFolder("lost", node: 1)
        let job = try MPIRun.start(launchCommand(config: path, run: "lost"), environment: launchEnvironment)
        // The first checkpoint (end of epoch 1) on node1, then cut node3 off.
        let latest = run.appendingPathComponent("checkpoints/latest")
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: latest.path) && job.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: latest.path), "no checkpoint within 120 s: \(job.output)")
        XCTAssertTrue(job.isRunning, "the job ended before the link was cut: \(job.output)")
        let cut = try MPIRun.launch(["ip", "link", "set", "veth-\(Self.node)3", "down"], timeout: 10)
        let cutAt = Date()
        XCTAssertEqual(cut.status, 0, cut.output)

        let result = job.finish(timeout: 90)
        let lossToEnd = Date().timeIntervalSince(cutAt)
        print("ClusterTests: node3 cut off -> job ended after \(String(format: "%.1f", lossToEnd)) s (status \(result.status))")
        XCTAssertFalse(result.timedOut, "the job still ran 90 s after node3 was cut off: \(result.output)")
        XCTAssertLessThan(lossToEnd, 60, result.output)
        XCTAssertNotEqual(result.status, 0, result.output)
        Thread.sleep(forTimeInterval: 0.5)  // the stderr filter's line may trail mpirun's exit
        let output = job.output
        let named = output.split(separator: "\n").filter { $0.hasPrefix("[multinode] lost node \(Self.node)3:") }
        XCTAssertEqual(named.count, 1, "one line naming the lost node: \(output)")
        if let line = named.first { print("ClusterTests: \(line)") }

        // Nothing left on any node (a few seconds' grace for daemons that are ending).
        var left: [Int: [String]] = [:]
        let quiet = Date().addingTimeInterval(10)
        repeat {
            left = [:]
            for node in 1...3 { let pids = try processes(node: node); if !pids.isEmpty { left[node] = pids } }
            if left.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.2)
        } while Date() < quiet
        XCTAssertTrue(left.isEmpty, "processes left behind (node: pids): \(left)")
        let strays = try MPIRun.launch(["pgrep", "-f", "multimix train --config \(path)"], timeout: 10).output
        XCTAssertTrue(strays.isEmpty, "multimix processes left: \(strays)")

        let store = try CheckpointStore(folder: run.appendingPathComponent("checkpoints"), keep: 3)
        let (checkpoint, refused) = store.newestGood()
        XCTAssertNotNil(checkpoint, "no loadable checkpoint after the node was lost: \(refused)")
        XCTAssertTrue(refused.isEmpty, "\(refused)")
        let resumedFrom = checkpoint?.state.step ?? 0
        XCTAssertGreaterThanOrEqual(resumedFrom, 5)

        XCTAssertEqual(try MPIRun.launch(["ip", "link", "set", "veth-\(Self.node)3", "up"], timeout: 10).status, 0)
        let resumed = try MPIRun.launch(launchCommand(config: path, run: "lost", arguments: ["--resume", "auto"]),
                                        timeout: 150, environment: launchEnvironment)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming from"), resumed.output)
        XCTAssertEqual(store.newestGood().checkpoint?.state.step, 80, "16 epochs of 5 steps: \(resumed.output)")
        for node in 2...3 {
            XCTAssertFalse(FileManager.default.fileExists(atPath: runFolder("lost", node: node).path), "node\(node) has a run folder")
        }
    }
}
