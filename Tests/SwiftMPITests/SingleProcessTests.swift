import Foundation
import SwiftMPI
import XCTest

/// What SwiftMPI does without MPI started: misuse is a thrown error naming the fix, never a crash.
/// (This process never initializes MPI; the multi-rank behaviour is in MultiRankTests.)
final class SingleProcessTests: XCTestCase {
    func testCommunicatorBeforeInitializeThrows() {
        XCTAssertFalse(MPI.isInitialized)
        XCTAssertThrowsError(try Communicator.world) { error in
            XCTAssertEqual(error as? MPIError, .notInitialized(call: "Communicator.world"))
            XCTAssertEqual("\(error)",
                           "Communicator.world: MPI is not initialized; call MPI.initialize(threadLevel:) first")
        }
    }

    func testFinalizeBeforeInitializeThrows() {
        XCTAssertThrowsError(try MPI.finalize()) { error in
            XCTAssertEqual(error as? MPIError, .notInitialized(call: "MPI.finalize"))
        }
    }

    func testErrorMessagesNameTheProblemAndTheFix() {
        XCTAssertEqual(MPIError.countTooLarge(call: "Communicator.gather", count: 3_000_000_000, limit: 2_147_483_647).description,
                       "Communicator.gather: 3000000000 elements exceed MPI's count limit of 2147483647; split the payload into smaller messages")
        XCTAssertEqual(MPIError.finalized(call: "Communicator.barrier").description,
                       "Communicator.barrier: MPI was already finalized; no MPI call is allowed after MPI.finalize()")
    }

    /// Threads per rank: Slurm's CPUs per task when the job names them, else the node's CPUs shared
    /// between its ranks, never 0.
    func testThreadsPerRankShareTheNodeOrFollowSlurm() {
        XCTAssertEqual(LaunchEnvironment(ranksOnNode: 2, usableCPUs: 2).threadsPerRank, 1)
        XCTAssertEqual(LaunchEnvironment(ranksOnNode: 2, usableCPUs: 16).threadsPerRank, 8)
        XCTAssertEqual(LaunchEnvironment(ranksOnNode: 3, usableCPUs: 8).threadsPerRank, 2)
        XCTAssertEqual(LaunchEnvironment(ranksOnNode: 4, usableCPUs: 2).threadsPerRank, 1)
        XCTAssertEqual(LaunchEnvironment(ranksOnNode: 2, usableCPUs: 64, slurmCPUsPerTask: 4).threadsPerRank, 4)
        XCTAssertEqual(LaunchEnvironment(ranksOnNode: 2, usableCPUs: 16).threadsSource, "16 CPUs / 2 ranks on this node")
        XCTAssertEqual(LaunchEnvironment.slurmCPUsPerTask(["SLURM_CPUS_PER_TASK": "8"]), 8)
        for unusable in ["", "0", "-2", "eight"] {
            XCTAssertNil(LaunchEnvironment.slurmCPUsPerTask(["SLURM_CPUS_PER_TASK": unusable]), unusable)
        }
        XCTAssertNil(LaunchEnvironment.slurmCPUsPerTask([:]))
    }

    /// The usable CPUs are the process's affinity mask, as the kernel reports it in /proc/self/status
    /// (`Cpus_allowed_list: 0-3,8`), not the machine's CPU count.
    func testUsableCPUsAreTheAffinityMask() throws {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let list = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
            .dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
        let count = list.split(separator: ",").reduce(0) { total, range in
            let ends = range.split(separator: "-").compactMap { Int($0) }
            return total + (ends.count == 2 ? ends[1] - ends[0] + 1 : 1)
        }
        XCTAssertEqual(LaunchEnvironment.usableCPUs(), count, "Cpus_allowed_list: \(list)")
    }

    func testProgressIsLiveOnlyOnATerminalOutsideAJobUnlessTold() {
        let show = LaunchEnvironment.showsLiveProgress
        XCTAssertTrue(show([:], true))
        XCTAssertFalse(show([:], false))
        XCTAssertFalse(show(["OMPI_COMM_WORLD_SIZE": "2"], true), "mpirun gives every rank a pseudo-terminal")
        XCTAssertFalse(show(["SLURM_JOB_ID": "7"], true))
        XCTAssertTrue(show(["MULTIMIX_PROGRESS": "live", "OMPI_COMM_WORLD_SIZE": "2"], false), "the launcher's word wins")
        XCTAssertFalse(show(["MULTIMIX_PROGRESS": "lines"], true))
    }

    func testThreadLevelsAreOrdered() {
        XCTAssertLessThan(ThreadLevel.single, .funneled)
        XCTAssertLessThan(ThreadLevel.serialized, .multiple)
    }
}
