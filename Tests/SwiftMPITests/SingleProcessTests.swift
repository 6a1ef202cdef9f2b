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

    func testThreadLevelsAreOrdered() {
        XCTAssertLessThan(ThreadLevel.single, .funneled)
        XCTAssertLessThan(ThreadLevel.serialized, .multiple)
    }
}
