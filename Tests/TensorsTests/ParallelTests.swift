import Foundation
import Tensors
import XCTest

/// The engine's loops run on the process's one OpenMP pool (`ComputeThreads`): every item once, the
/// calling thread among the workers, nothing concurrent with one thread, nested calls safe.
final class ParallelTests: XCTestCase {
    private var savedThreads = 1

    override func setUp() { savedThreads = ComputeThreads.count }
    override func tearDown() { ComputeThreads.set(savedThreads) }

    /// Which thread ran each chunk, and which items it covered.
    private final class Record: @unchecked Sendable {  // written under `lock` only
        let lock = NSLock()
        var threads: [Int: pthread_t] = [:]
        var items: [Int] = []
    }

    private func run(_ count: Int, minimumChunk: Int) -> Record {
        let record = Record()
        Parallel.forEachChunk(count, minimumChunk: minimumChunk) { chunk, range in
            record.lock.lock()
            record.threads[chunk] = pthread_self()
            record.items += Array(range)
            record.lock.unlock()
        }
        return record
    }

    func testChunksCoverEveryItemOnceOnSeveralThreadsOfThePool() {
        ComputeThreads.set(2)
        XCTAssertEqual(ComputeThreads.count, 2)
        let record = run(10_001, minimumChunk: 100)
        XCTAssertEqual(record.items.sorted(), Array(0..<10_001))
        XCTAssertEqual(Set(record.threads.keys), [0, 1], "two chunks for two threads")
        let threads = Array(record.threads.values)
        XCTAssertEqual(pthread_equal(threads[0], threads[1]), 0, "the two chunks ran on two threads")
        XCTAssertTrue(threads.contains { pthread_equal($0, pthread_self()) != 0 }, "the calling thread works too")
    }

    func testOneThreadOrSmallWorkRunsInlineOnTheCallingThread() {
        ComputeThreads.set(1)
        var record = run(10_000, minimumChunk: 100)
        XCTAssertEqual(Array(record.threads.keys), [0])
        XCTAssertNotEqual(pthread_equal(record.threads[0]!, pthread_self()), 0)
        ComputeThreads.set(4)
        record = run(150, minimumChunk: 100)  // less than two minimum chunks
        XCTAssertEqual(record.items, Array(0..<150))
        XCTAssertNotEqual(pthread_equal(record.threads[0]!, pthread_self()), 0)
        XCTAssertEqual(run(0, minimumChunk: 1).items, [], "no items, no call")
    }

    /// A loop inside a loop (a split matrix product inside Dense MultiMix's per-position work) runs
    /// its chunks on the thread that called it, each item still once.
    func testNestedLoopsCoverEveryItem() {
        ComputeThreads.set(2)
        let lock = NSLock()
        var seen: [Int] = []
        Parallel.forEachChunk(4, minimumChunk: 1) { _, outer in
            for i in outer {
                Parallel.forEachChunk(1000, minimumChunk: 10) { _, inner in
                    lock.lock(); seen += inner.map { i * 1000 + $0 }; lock.unlock()
                }
            }
        }
        XCTAssertEqual(seen.sorted(), Array(0..<4000))
    }

    /// One setting for the whole pool: the count the next region uses, and OpenBLAS kept on the
    /// calling thread (its own pthreads would spin beside the pool).
    func testOneSettingSizesThePoolAndKeepsOpenBLASSingleThreaded() {
        for count in [1, 3] {
            ComputeThreads.set(count)
            XCTAssertEqual(ComputeThreads.count, count)
            XCTAssertEqual(Parallel.chunkCount(1 << 20, minimumChunk: 1), count)
            XCTAssertEqual(BLAS.openBLASThreadCount, 1)
        }
    }
}
