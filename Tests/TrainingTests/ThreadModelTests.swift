import Foundation
import TestSupport
import XCTest

/// `multimix` needs no environment variable to run fast: when `OMP_WAIT_POLICY` is unset it restarts
/// itself with `passive` (libgomp reads the policy only when it loads), under `mpirun` too; a policy
/// the user set is kept. `bench train` reports the policy in effect, the pool size and the CPU.
final class ThreadModelTests: XCTestCase {
    private let benchArguments = ["bench", "train", "--model", "resnet20", "--input", "1x28x28", "--batch", "4",
                                  "--threads", "2", "--steps", "1", "--warmup", "0", "--json"]

    private func tool() throws -> String {
        let tool = MPIRun.executable("multimix")
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw XCTSkip("\(tool) not built (swift build builds it; or set MULTIMIX_BIN_DIR)")
        }
        return tool
    }

    /// The JSON objects a run printed, one per line that starts with "{".
    private func reports(_ result: MPIRun.Result) throws -> [[String: Any]] {
        try result.output.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testUnsetWaitPolicyIsChosenByMultimix() throws {
        let result = try MPIRun.launch(["-u", "OMP_WAIT_POLICY", try tool()] + benchArguments, timeout: 120)
        XCTAssertEqual(result.status, 0, result.output)
        let report = try XCTUnwrap(try reports(result).first, result.output)
        XCTAssertEqual(report["omp_wait_policy"] as? String, "passive (chosen by multimix)")
        XCTAssertEqual(report["threads"] as? Int, 2)
        XCTAssertNotNil(report["vector_extensions"] as? String)
    }

    func testAPolicyFromTheEnvironmentIsKept() throws {
        let result = try MPIRun.launch([try tool()] + benchArguments, timeout: 120, environment: ["OMP_WAIT_POLICY": "active"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(try reports(result).first?["omp_wait_policy"] as? String, "active (environment)", result.output)
    }

    /// Plain `mpirun`, no `-x` flags and no launcher: every rank restarts itself under the policy.
    func testRanksUnderPlainMpirunChooseThePolicyToo() throws {
        let result = try MPIRun.launch(["-u", "OMP_WAIT_POLICY", "mpirun", "-np", "2"] + MPIRun.localFlags + [try tool()] + benchArguments,
                                       timeout: 180)
        XCTAssertEqual(result.status, 0, result.output)
        let policies = try reports(result).map { $0["omp_wait_policy"] as? String }
        XCTAssertEqual(policies, ["passive (chosen by multimix)", "passive (chosen by multimix)"], result.output)
    }
}
