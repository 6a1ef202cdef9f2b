import Datasets
import Foundation
import XCTest

/// The assembled pipeline, prefetch overlap, and the speed of batch assembly on real data.
final class DataPipelineTests: XCTestCase {
    func testTrainingAndEvaluationLoadersOverFixture() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let cache = try DatasetFixtures.temporaryFolder()
        let data = try DataPipeline(source: try DatasetSource.resolve(folder), subset: .firstBalanced(count: 6),
                                    cacheDirectory: cache)
        XCTAssertEqual(data.train?.count, 6)
        XCTAssertEqual(data.test?.count, 3)
        // Statistics are those of the whole training split, not the subset.
        XCTAssertEqual(data.statistics, ChannelStatistics(of: try DatasetSource.resolve(folder).load(.train)))
        let train = data.trainingLoader(rank: 1, worldSize: 2, seed: 4, batchSize: 2, endEpoch: 1)
        XCTAssertEqual(train.batchesPerEpoch, 1)
        XCTAssertEqual(train.next()?.count, 2)
        XCTAssertNil(train.next())
        var labels = [Int32]()
        for rank in 0..<2 {
            let test = data.evaluationLoader(rank: rank, worldSize: 2, batchSize: 5)
            while let batch = test.next() { labels += batch.labels.prefix(batch.realCount) }
        }
        XCTAssertEqual(labels.sorted(), [3, 8, 8])
        XCTAssertEqual(DataPipeline.defaultAugmentation(for: .idx), .none)
        XCTAssertEqual(DataPipeline.defaultAugmentation(for: .cifar10), .cifar)
    }

    func testTestOnlySourceNeedsGivenStatistics() throws {
        let folder = try DatasetFixtures.temporaryFolder()
        DatasetFixtures.write(DatasetFixtures.cifarRecords(labels: [[1, 2]]), to: folder, name: "test.bin")
        let source = try DatasetSource.resolve(folder)
        XCTAssertThrowsError(try DataPipeline(source: source)) { error in
            XCTAssertEqual("\(error)", "\(folder): no training split to compute normalisation statistics from; add the training files, or give the per-channel mean and std")
        }
        let given = ChannelStatistics(mean: [0.5, 0.5, 0.5], standardDeviation: [0.25, 0.25, 0.25])
        XCTAssertEqual(try DataPipeline(source: source, statistics: given).test?.count, 1)
    }

    /// While the caller holds batch k, the producer assembles batch k + 1 into the other buffer without
    /// being asked (the overlap; its effect on time is measured by `multimix bench train --data`, not
    /// asserted here). The deadline only turns a broken producer into a failure instead of a hang.
    func testPrefetchAssemblesTheNextBatchWhileTheCallerWorks() {
        let dataset = ImageDataset(shape: ImageShape(height: 8, width: 8, channels: 3),
                                   pixels: [UInt8](repeating: 7, count: 64 * 192), labels: [Int32](repeating: 0, count: 64),
                                   classNames: ["x"])
        let assembler = BatchAssembler(dataset: dataset, statistics: ChannelStatistics(of: dataset), augmentation: .cifar, seed: 1)
        let sampler = DistributedSampler(datasetCount: 64, worldSize: 1, rank: 0, shuffle: true, seed: 1, tail: .drop)
        let loader = PrefetchingLoader(assembler: assembler, sampler: sampler, batchSize: 8, dropLastBatch: true)
        for k in 0..<6 {
            XCTAssertEqual(loader.next()?.step, k % 8)
            let deadline = Date().addingTimeInterval(30)
            while loader.batchesAssembled < k + 2 && Date() < deadline { usleep(1_000) }
            XCTAssertEqual(loader.batchesAssembled, k + 2, "batch \(k + 1) assembled while batch \(k) is held")
        }
        loader.stop()
    }

    /// Real CIFAR-10 batches of 128 with crop + flip: every image normalised with the statistics (a
    /// padded crop may bring in zeros, which normalise to −mean/std), labels those of the chosen
    /// examples, and the same key gives the same batch. (Speed: `multimix bench train --data cifar10`.)
    func testCIFARBatchAssemblyOnRealData() throws {
        let source = try DatasetFixtures.realSource("cifar10", split: .train)
        let train = try source.load(.train)
        let assembler = BatchAssembler(dataset: train, statistics: ChannelStatistics(of: train), augmentation: .cifar, seed: 1)
        let sampler = DistributedSampler(datasetCount: train.count, worldSize: 1, rank: 0, shuffle: true, seed: 1, tail: .drop)
        let indices = sampler.indices(epoch: 0)
        var images = [Float](repeating: 0, count: 128 * 3072)
        var labels = [Int32](repeating: 0, count: 128)
        func assemble(step: Int) -> [Float] {
            _ = indices[step * 128 ..< (step + 1) * 128].withUnsafeBufferPointer { batchIndices in
                images.withUnsafeMutableBufferPointer { imageBuffer in
                    labels.withUnsafeMutableBufferPointer { labelBuffer in
                        assembler.assemble(indices: batchIndices, epoch: 0, step: step, rank: 0,
                                           images: imageBuffer, labels: labelBuffer)
                    }
                }
            }
            return images
        }
        for step in 0..<3 {
            let first = assemble(step: step)
            XCTAssertEqual(labels, indices[step * 128 ..< (step + 1) * 128].map { train.labels[$0] })
            XCTAssertTrue(first.allSatisfy { $0.isFinite && abs($0) < 3 }, "normalised pixels stay within a few std")
            XCTAssertEqual(assemble(step: step), first, "the same (seed, epoch, step, rank) gives the same batch")
        }
    }
}
