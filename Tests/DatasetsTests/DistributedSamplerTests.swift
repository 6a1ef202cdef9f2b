import Datasets
import XCTest

/// Sharding properties for R = 1…5 and awkward dataset sizes, as PyTorch's DistributedSampler.
final class DistributedSamplerTests: XCTestCase {
    let sizes = [0, 1, 2, 3, 4, 5, 7, 10, 11, 13, 64, 97, 100, 101]

    func samplers(count: Int, worldSize: Int, tail: DistributedSampler.Tail, shuffle: Bool = true,
                  seed: UInt64 = 9) -> [DistributedSampler] {
        (0..<worldSize).map {
            DistributedSampler(datasetCount: count, worldSize: worldSize, rank: $0, shuffle: shuffle, seed: seed, tail: tail)
        }
    }

    func testDropTailGivesDisjointEqualSlices() {
        for worldSize in 1...5 {
            for count in sizes {
                for epoch in 0..<3 {
                    let shards = samplers(count: count, worldSize: worldSize, tail: .drop).map { $0.indices(epoch: epoch) }
                    let all = shards.flatMap { $0 }
                    XCTAssertEqual(Set(all).count, all.count, "overlap, R=\(worldSize) n=\(count)")
                    XCTAssertEqual(all.count, count / worldSize * worldSize)
                    XCTAssert(all.allSatisfy { (0..<count).contains($0) })
                    XCTAssertEqual(Set(shards.map(\.count)).count <= 1, true, "unequal slices R=\(worldSize) n=\(count)")
                }
            }
        }
    }

    func testPadTailCoversEverythingWithEqualSlices() {
        for worldSize in 1...5 {
            for count in sizes where count > 0 {
                let ranks = samplers(count: count, worldSize: worldSize, tail: .pad)
                let shards = ranks.map { $0.indices(epoch: 1) }
                XCTAssertEqual(Set(shards.flatMap { $0 }), Set(0..<count), "R=\(worldSize) n=\(count)")
                let expected = (count + worldSize - 1) / worldSize
                XCTAssert(shards.allSatisfy { $0.count == expected })
                // The real (non-padding) entries of all ranks are disjoint and cover the dataset exactly once.
                let real = zip(ranks, shards).flatMap { sampler, shard in shard.prefix(sampler.realCount) }
                XCTAssertEqual(real.sorted(), Array(0..<count), "R=\(worldSize) n=\(count)")
            }
        }
    }

    func testPaddingRepeatsCyclicallyWhenWorldIsLargerThanDataset() {
        let shards = samplers(count: 2, worldSize: 5, tail: .pad, shuffle: false).map { $0.indices(epoch: 0) }
        XCTAssertEqual(shards, [[0], [1], [0], [1], [0]])
        XCTAssertEqual(samplers(count: 2, worldSize: 5, tail: .pad).map(\.realCount), [1, 1, 0, 0, 0])
    }

    func testUnshuffledMatchesPyTorchLayout() {
        // torch: indices = [0..<10] + [0, 1] (pad to 12); rank r takes indices[r::3].
        let shards = samplers(count: 10, worldSize: 3, tail: .pad, shuffle: false).map { $0.indices(epoch: 0) }
        XCTAssertEqual(shards, [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]])
        // drop_last: indices[:9], rank r takes indices[r::3].
        let dropped = samplers(count: 10, worldSize: 3, tail: .drop, shuffle: false).map { $0.indices(epoch: 0) }
        XCTAssertEqual(dropped, [[0, 3, 6], [1, 4, 7], [2, 5, 8]])
    }

    func testBatchCountsAreEqualAcrossRanks() {
        for worldSize in 1...5 {
            for count in sizes {
                for tail in DistributedSampler.Tail.allCases {
                    for batchSize in [1, 3, 8] {
                        for dropLast in [true, false] {
                            let counts = Set(samplers(count: count, worldSize: worldSize, tail: tail)
                                .map { $0.batchCount(batchSize: batchSize, dropLastBatch: dropLast) })
                            XCTAssertEqual(counts.count, 1)
                        }
                    }
                }
            }
        }
        let sampler = DistributedSampler(datasetCount: 50_000, worldSize: 3, rank: 2, shuffle: true, seed: 1, tail: .drop)
        XCTAssertEqual(sampler.batchCount(batchSize: 128, dropLastBatch: true), 130)   // 16666 / 128
        XCTAssertEqual(sampler.batchCount(batchSize: 128, dropLastBatch: false), 131)
    }

    func testSameSeedAndEpochSameOrderNewEpochNewOrder() {
        let a = DistributedSampler(datasetCount: 1000, worldSize: 3, rank: 1, shuffle: true, seed: 5, tail: .pad)
        let b = DistributedSampler(datasetCount: 1000, worldSize: 3, rank: 1, shuffle: true, seed: 5, tail: .pad)
        XCTAssertEqual(a.indices(epoch: 4), b.indices(epoch: 4))
        XCTAssertNotEqual(a.indices(epoch: 4), a.indices(epoch: 5))
        let otherSeed = DistributedSampler(datasetCount: 1000, worldSize: 3, rank: 1, shuffle: true, seed: 6, tail: .pad)
        XCTAssertNotEqual(a.indices(epoch: 4), otherSeed.indices(epoch: 4))
        XCTAssertNotEqual(a.globalOrder(epoch: 0), Array(0..<1000))
        // Every rank sees the same global order.
        let rank0 = DistributedSampler(datasetCount: 1000, worldSize: 3, rank: 0, shuffle: true, seed: 5, tail: .pad)
        XCTAssertEqual(rank0.globalOrder(epoch: 4), a.globalOrder(epoch: 4))
    }
}
