import Datasets
import XCTest

/// The loader hands out exactly the batches the sampler and assembler define, double-buffered.
final class PrefetchingLoaderTests: XCTestCase {
    /// 23 tiny two-channel images with labels 0...22 mod 5.
    let dataset = ImageDataset(shape: ImageShape(height: 2, width: 3, channels: 2),
                               pixels: (0..<23 * 12).map { UInt8(truncatingIfNeeded: $0 * 7) },
                               labels: (0..<23).map { Int32($0 % 5) }, classNames: (0..<5).map(String.init))

    func assembler(_ augmentation: Augmentation = .cifar) -> BatchAssembler {
        BatchAssembler(dataset: dataset, statistics: ChannelStatistics(of: dataset), augmentation: augmentation, seed: 11)
    }

    func testBatchesMatchSamplerAndAssemblerAcrossEpochs() {
        let sampler = DistributedSampler(datasetCount: 23, worldSize: 2, rank: 1, shuffle: true, seed: 11, tail: .drop)
        let loader = PrefetchingLoader(assembler: assembler(), sampler: sampler, batchSize: 4, dropLastBatch: true,
                                       startEpoch: 0, endEpoch: 3)
        XCTAssertEqual(loader.batchesPerEpoch, 2)  // 11 per rank, 2 full batches
        var bufferAddresses = Set<UnsafePointer<Float>>()
        for epoch in 0..<3 {
            let indices = sampler.indices(epoch: epoch)
            for step in 0..<2 {
                guard let batch = loader.next() else { return XCTFail("loader ended early") }
                XCTAssertEqual([batch.epoch, batch.step, batch.count, batch.realCount], [epoch, step, 4, 4])
                XCTAssertEqual(batch.isLastOfEpoch, step == 1)
                let expected = assembler().assemble(indices: Array(indices[step * 4 ..< step * 4 + 4]),
                                                    epoch: epoch, step: step, rank: 1)
                XCTAssertEqual(Array(batch.images), expected.images)
                XCTAssertEqual(Array(batch.labels), expected.labels)
                bufferAddresses.insert(batch.images.baseAddress!)
            }
        }
        XCTAssertNil(loader.next())
        XCTAssertEqual(bufferAddresses.count, 2, "two buffers, reused")
        XCTAssertEqual(loader.batchesDelivered, 6)
        XCTAssertGreaterThanOrEqual(loader.waitSeconds, loader.lastWaitSeconds)
    }

    func testResumeMidEpochGivesTheSameBatches() {
        let sampler = DistributedSampler(datasetCount: 23, worldSize: 1, rank: 0, shuffle: true, seed: 11, tail: .drop)
        let full = PrefetchingLoader(assembler: assembler(), sampler: sampler, batchSize: 5, dropLastBatch: true, endEpoch: 2)
        var all = [[Float]]()
        while let batch = full.next() { all.append(Array(batch.images)) }
        XCTAssertEqual(all.count, 8)
        let resumed = PrefetchingLoader(assembler: assembler(), sampler: sampler, batchSize: 5, dropLastBatch: true,
                                        startEpoch: 0, startStep: 3, endEpoch: 2)
        var rest = [[Float]]()
        while let batch = resumed.next() { rest.append(Array(batch.images)) }
        XCTAssertEqual(rest, Array(all[3...]))
    }

    func testEvaluationShardKeepsPartialBatchAndMarksPadding() {
        // 23 examples over 3 ranks, padded: 8 each; rank 2's last entry (position 2 + 7·3 = 23) repeats.
        var seen = [Int32]()
        for rank in 0..<3 {
            let sampler = DistributedSampler(datasetCount: 23, worldSize: 3, rank: rank, shuffle: false, seed: 0, tail: .pad)
            let loader = PrefetchingLoader(assembler: assembler(.none), sampler: sampler, batchSize: 3, dropLastBatch: false,
                                           endEpoch: 1)
            XCTAssertEqual(loader.batchesPerEpoch, 3)
            var counts = [Int](), real = [Int]()
            while let batch = loader.next() {
                counts.append(batch.count); real.append(batch.realCount)
                seen += batch.labels.prefix(batch.realCount)
            }
            XCTAssertEqual(counts, [3, 3, 2])
            XCTAssertEqual(real, rank == 2 ? [3, 3, 1] : [3, 3, 2])
        }
        XCTAssertEqual(seen.count, 23)
        XCTAssertEqual(seen.sorted(), dataset.labels.sorted())
    }

    /// Stopping (twice), dropping, and dropping without stop() all end the producer thread. Run on a
    /// thread of its own with a deadline: a regression fails instead of hanging the suite.
    func testStoppingAnEndlessLoaderDoesNotHang() {
        let done = DispatchSemaphore(value: 0)
        let assembler = assembler()
        Thread {
            Self.stopEndlessLoaders(assembler)
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "stopping a loader hung for 60 s")
    }

    private static func stopEndlessLoaders(_ assembler: BatchAssembler) {
        let sampler = DistributedSampler(datasetCount: 23, worldSize: 1, rank: 0, shuffle: true, seed: 1, tail: .drop)
        var loader: PrefetchingLoader? = PrefetchingLoader(assembler: assembler, sampler: sampler, batchSize: 2,
                                                           dropLastBatch: true)
        for _ in 0..<30 { XCTAssertNotNil(loader?.next()) }
        loader?.stop()
        loader?.stop()
        loader = nil
        // A loader dropped without stop() ends its thread in deinit.
        _ = PrefetchingLoader(assembler: assembler, sampler: sampler, batchSize: 2, dropLastBatch: true).next()
    }

    func testEmptyShardGivesNoBatches() {
        let sampler = DistributedSampler(datasetCount: 23, worldSize: 1, rank: 0, shuffle: true, seed: 1, tail: .drop)
        let loader = PrefetchingLoader(assembler: assembler(), sampler: sampler, batchSize: 50, dropLastBatch: true)
        XCTAssertEqual(loader.batchesPerEpoch, 0)
        XCTAssertNil(loader.next())
    }
}
