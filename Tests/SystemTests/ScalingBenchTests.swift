import Foundation
import TestSupport
import XCTest

/// launch/bench/scaling.sh, on a tiny sweep: 2 namespace nodes, one bucket size, a few steps, at 0 and
/// +20 ms on node 2. Checks the table's shape, that the delay reached the training traffic (the step
/// took at least most of one added round trip longer: every step waits for node 2 at least once; no
/// other timing is asserted), and that nothing of the bed is left. Needs root and network namespaces,
/// as ClusterTests (MULTIMIX_SKIP_CLUSTER_TESTS=1 skips it); the delayer's packages are installed by
/// launch/test.sh (or by the script, with apt-get, when missing).
final class ScalingBenchTests: XCTestCase {
    let script = Repository.root.appendingPathComponent("launch/bench/scaling.sh").path
    /// Its own bed, apart from the bench's default one (knode*, 10.80.0.0/24) and the other tests'.
    static let node = "qnode"
    let environment = ["MULTIMIX_SCALING_DIR": "/tmp/multimix-scaling-tests", "MULTIMIX_SCALING_BRIDGE": "br-mmx-stest",
                       "MULTIMIX_SCALING_NODE_PREFIX": ScalingBenchTests.node, "MULTIMIX_SCALING_SUBNET": "10.82.0"]

    /// The table's rows (`| nodes | latency | bucket | images/s | speed-up | step ms | exposed ms | % |`), as cells.
    func rows(_ output: String) -> [[String]] {
        output.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| nodes") && !$0.hasPrefix("| ---") }.map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
    }

    func testATinySweepPrintsTheTableAndTheDelayReachesTheSteps() throws {
        try requireClusterTestBed()
        let result = try MPIRun.launch(["bash", script, "--nodes", "2", "--latency-ms", "0,20", "--bucket-mb", "1",
                                        "--steps", "4", "--warmup", "2"], timeout: 150, environment: environment)
        print("ScalingBenchTests: the sweep took \(String(format: "%.1f", result.seconds)) s")
        XCTAssertFalse(result.timedOut, result.output)
        XCTAssertEqual(result.status, 0, result.output)
        let output = result.output
        XCTAssertTrue(output.contains("| nodes | added latency ms (last node) | bucket MB | images/s | speed-up | step ms | exposed comm ms | exposed % of step |"), output)
        XCTAssertTrue(output.contains("CPU: "), output)
        // The table's rows (the lines printed as each job ends start with [bench-scaling]).
        let table = rows(output)
        XCTAssertEqual(table.count, 2, output)
        XCTAssertEqual(table.map { Array($0.prefix(3)) }, [["2", "0", "1"], ["2", "20", "1"]], output)
        for row in table {
            XCTAssertEqual(row.count, 8, "\(row)")
            for cell in [row[3], row[5], row[6]] { XCTAssertNotNil(Double(cell), "\(row)") }
            XCTAssertTrue(row[7].hasSuffix("%") && Double(row[7].dropLast()) != nil, "\(row)")
        }
        let measured = output.split(separator: "\n").first { $0.hasPrefix("delay check: +20 ms asked, ping RTT +") }
        XCTAssertNotNil(measured, output)
        if table.count == 2, let plain = Double(table[0][5]), let delayed = Double(table[1][5]) {
            XCTAssertGreaterThan(delayed - plain, 15, "the +20 ms run's step took only \(delayed - plain) ms longer: the delay did not reach the all-reduce\n\(output)")
        }
        // Nothing left: no node, no bridge, no folder.
        let namespaces = try MPIRun.launch(["ip", "netns", "list"], timeout: 10).output
        XCTAssertFalse(namespaces.contains(Self.node), namespaces)
        XCTAssertNotEqual(try MPIRun.launch(["ip", "link", "show", "br-mmx-stest"], timeout: 10).status, 0, "the bridge is left")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/multimix-scaling-tests"))
    }

    /// Wrong input: one line naming the problem and the fix, status 2, before anything is built.
    func testWrongInputsAreRefusedInOneLine() throws {
        let cases: [(arguments: [String], message: String, bed: [String: String])] = [
            (["--nodes", "0"], "--nodes: '0' is not a node count from 1 to 16", [:]),
            (["--nodes", "2,,3"], "--nodes '2,,3' is not a comma-separated list", [:]),
            (["--latency-ms", "-5"], "--latency-ms: '-5' is not a latency", [:]),
            (["--bucket-mb", "0"], "--bucket-mb: '0' is not a bucket size", [:]),
            (["--steps", "x"], "--steps 'x' is not a number of measured steps", [:]),
            (["--config", "/nonexistent.yaml"], "--config '/nonexistent.yaml' is not a file", [:]),
            (["--mpi-flags", "yield"], "--mpi-flags 'yield' does not start with a flag", [:]),
            (["--warmup"], "--warmup needs a value", [:]),
            (["--fast"], "unknown argument '--fast'", [:]),
            ([], "MULTIMIX_SCALING_SUBNET='10.81' is not the first three numbers of a /24", ["MULTIMIX_SCALING_SUBNET": "10.81"]),
        ]
        for (arguments, message, bed) in cases {
            let result = try MPIRun.launch(["bash", script] + arguments, timeout: 20, environment: environment.merging(bed) { $1 })
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.output)")
            let lines = result.output.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments): \(result.output)")
            XCTAssertTrue(result.output.hasPrefix("launch/bench/scaling.sh: \(message)"), "\(arguments): \(result.output)")
        }
    }
}
