import Foundation
import TestSupport
import XCTest

/// SwiftMPI under real `mpirun` processes: each scenario of `mpi-scenarios` checks its own results on
/// every rank and exits non-zero at the first mismatch. Run at 1, 2 and 3 ranks (3 oversubscribes
/// this 2-core machine).
final class MultiRankTests: XCTestCase {
    private let rankCounts = [1, 2, 3]

    private func runScenario(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for ranks in rankCounts {
            let result = try MPIRun.run(ranks: ranks, program: MPIRun.executable("mpi-scenarios"),
                                        arguments: [name], timeout: 120)
            XCTAssertFalse(result.timedOut, "\(name) on \(ranks) ranks hung; output:\n\(result.output)",
                           file: file, line: line)
            XCTAssertEqual(result.status, 0, "\(name) on \(ranks) ranks failed:\n\(result.output)",
                           file: file, line: line)
            XCTAssertTrue(result.output.contains("\(name): passed on \(ranks) ranks"),
                          "\(name) on \(ranks) ranks did not report success:\n\(result.output)",
                          file: file, line: line)
        }
    }

    func testAllreduceSumMaxMinOfKnownVectors() throws { try runScenario("allreduce") }
    func testAllreduceSplitIntoChunksBeyondTheCountLimit() throws { try runScenario("allreduce-chunked") }
    func testIallreduceCompletesWhileTheCallerComputes() throws { try runScenario("iallreduce") }
    func testBroadcastOfTenMegabytePayload() throws { try runScenario("broadcast") }
    func testGatherAndAllgatherKeepRankOrder() throws { try runScenario("gather") }
    func testSplitAndDuplicateCommunicators() throws { try runScenario("split") }
    func testLaunchEnvironmentCountsTheRanksOnThisNode() throws { try runScenario("launch-environment") }
    func testPointToPointRing() throws { try runScenario("point-to-point") }
    func testGradientBucketsAverageAcrossRanksDuringBackward() throws { try runScenario("gradient-sync") }
    func testParameterChecksumsFindTheDivergentRank() throws { try runScenario("consistency") }

    /// A rank arriving late at an all-reduce is named by rank 0 once the stall timeout passes.
    func testStalledAllreduceNamesTheLateRank() throws {
        for ranks in [2, 3] {
            let result = try MPIRun.run(ranks: ranks, program: MPIRun.executable("mpi-scenarios"), arguments: ["stall"])
            XCTAssertEqual(result.status, 0, result.output)
            XCTAssertTrue(result.output.contains("stall: passed on \(ranks) ranks"), result.output)
            XCTAssertTrue(result.output.contains("report from rank 0: stall: rank \(ranks - 1) has not reached step 5's gradient all-reduce after"),
                          result.output)
        }
    }

    /// A rank that makes no progress past the watchdog's limit ends the job, non-zero, with one error
    /// line per rank (`multimix: error: rank R: no progress …`); beats, and a stopped watchdog, do not.
    func testWatchdogEndsTheJobWithoutProgressOnly() throws {
        for ranks in [2, 3] {
            let result = try MPIRun.run(ranks: ranks, program: MPIRun.executable("mpi-scenarios"),
                                        arguments: ["no-progress"], timeout: 40)
            XCTAssertFalse(result.timedOut, "the watchdog did not end the job (\(ranks) ranks):\n\(result.output)")
            XCTAssertNotEqual(result.status, 0, result.output)
            XCTAssertTrue(result.output.contains("no-progress: kept alive on \(ranks) ranks"), result.output)
            let line = #/multimix: error: rank \d: no progress for [23] s \(distributed.stall_abort_s = 2\): another rank died, hangs or left early; ending the job/#
            XCTAssertNotNil(result.output.firstMatch(of: line), result.output)
            XCTAssertLessThan(result.seconds, 30, result.output)
        }
        let alone = try MPIRun.run(ranks: 1, program: MPIRun.executable("mpi-scenarios"), arguments: ["no-progress"], timeout: 40)
        XCTAssertEqual(alone.status, 0, "one rank has no peer to wait for:\n\(alone.output)")
    }

    /// 1 rank on a global batch of 12 computes the same gradient as 2 ranks on 6 or 3 on 4 (BatchNorm
    /// frozen), within 1e-5 relative error (float32 sums in a different order: ≈ 1e-7 per operation).
    func testDataParallelGradientEqualsTheLargeBatchGradient() throws {
        var gradients: [Int: [Float]] = [:]
        for ranks in [1, 2, 3] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("gradient-\(ranks)-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: file) }
            let result = try MPIRun.run(ranks: ranks, program: MPIRun.executable("mpi-scenarios"),
                                        arguments: ["gradient-equivalence"], environment: ["MULTIMIX_GRADIENT_FILE": file.path])
            XCTAssertEqual(result.status, 0, result.output)
            let data = try Data(contentsOf: file)
            gradients[ranks] = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let reference = gradients[1]!
        let scale = reference.map { abs(Double($0)) }.max()!
        XCTAssertGreaterThan(scale, 0)
        for ranks in [2, 3] {
            let worst = zip(gradients[ranks]!, reference).map { abs(Double($0) - Double($1)) }.max()!
            XCTAssertLessThan(worst / scale, 1e-5, "\(ranks) ranks vs 1: relative error \(worst / scale)")
        }
    }

    func testMisuseAndMPIErrorsAreThrownErrors() throws { try runScenario("errors") }

    /// A rank killed mid-collective ends the whole job, non-zero, within 10 s: no hang.
    func testRankDyingMidCollectiveEndsTheJobQuickly() throws {
        for ranks in [2, 3] {
            let result = try MPIRun.run(ranks: ranks, program: MPIRun.executable("mpi-scenarios"),
                                        arguments: ["rank-dies"], timeout: 30)
            XCTAssertFalse(result.timedOut, "job hung after a rank died (\(ranks) ranks):\n\(result.output)")
            XCTAssertNotEqual(result.status, 0, "job with a dead rank exited 0 (\(ranks) ranks)")
            XCTAssertLessThan(result.seconds, 10, "job took \(result.seconds) s to end after a rank died")
        }
    }

    /// An unknown scenario name is a usage error, not a crash or a pass.
    func testUnknownScenarioIsAUsageError() throws {
        let result = try MPIRun.run(ranks: 1, program: MPIRun.executable("mpi-scenarios"), arguments: ["nope"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("usage: mpirun -np N mpi-scenarios SCENARIO"), result.output)
    }
}
