import Datasets
import XCTest

/// Crop and flip on a hand-made image, normalisation, and determinism of whole batches.
final class AugmentationTests: XCTestCase {
    /// One 3x3 image, two channels: channel 0 holds 1...9 row by row, channel 1 ten times that.
    ///
    ///     1 2 3
    ///     4 5 6
    ///     7 8 9
    let image = ImageDataset(shape: ImageShape(height: 3, width: 3, channels: 2),
                             pixels: (1...9).flatMap { [UInt8($0), UInt8(10 * $0)] }, labels: [0], classNames: ["only"])
    let identity = ChannelStatistics(mean: [0, 0], standardDeviation: [1, 1])

    /// Channel 0 of the image written with `draw`, as bytes (statistics are the identity, so ×255).
    func channel0(padding: Int, flip: Bool, draw: Augmentation.Draw) -> [Int] {
        let assembler = BatchAssembler(dataset: image, statistics: identity,
                                       augmentation: Augmentation(cropPadding: padding, horizontalFlip: flip), seed: 0)
        var out = [Float](repeating: -1, count: 18)
        out.withUnsafeMutableBufferPointer { assembler.writeImage(at: 0, draw: draw, into: $0.baseAddress!) }
        for k in 0..<9 { XCTAssertEqual(out[2 * k + 1], 10 * out[2 * k], accuracy: 1e-5, "channels kept together") }
        return (0..<9).map { Int((out[2 * $0] * 255).rounded()) }
    }

    func testCropShiftsAndZeroPads() {
        // p = 1, dy = 0, dx = 2: out(y, x) = in(y − 1, x + 1).
        XCTAssertEqual(channel0(padding: 1, flip: false, draw: .init(dy: 0, dx: 2, flip: false)),
                       [0, 0, 0,
                        2, 3, 0,
                        5, 6, 0])
        // p = 1, dy = 2, dx = 0: out(y, x) = in(y + 1, x − 1).
        XCTAssertEqual(channel0(padding: 1, flip: false, draw: .init(dy: 2, dx: 0, flip: false)),
                       [0, 4, 5,
                        0, 7, 8,
                        0, 0, 0])
        // Centre offsets (dy = dx = p) leave the image alone.
        XCTAssertEqual(channel0(padding: 2, flip: false, draw: .init(dy: 2, dx: 2, flip: false)), Array(1...9))
    }

    func testFlipMirrorsRowsAfterCrop() {
        XCTAssertEqual(channel0(padding: 0, flip: true, draw: .init(dy: 0, dx: 0, flip: true)),
                       [3, 2, 1,
                        6, 5, 4,
                        9, 8, 7])
        // Crop then flip: out(y, x) = in(y − 1, (2 − x) + 1).
        XCTAssertEqual(channel0(padding: 1, flip: true, draw: .init(dy: 0, dx: 2, flip: true)),
                       [0, 0, 0,
                        0, 3, 2,
                        0, 6, 5])
    }

    func testNormalisationAppliesToImageAndPadding() {
        let statistics = ChannelStatistics(mean: [0.5, 0.25], standardDeviation: [0.25, 0.5])
        let assembler = BatchAssembler(dataset: image, statistics: statistics, augmentation: Augmentation(cropPadding: 1), seed: 0)
        var out = [Float](repeating: 0, count: 18)
        out.withUnsafeMutableBufferPointer {
            assembler.writeImage(at: 0, draw: .init(dy: 0, dx: 1, flip: false), into: $0.baseAddress!)
        }
        XCTAssertEqual(out[0], (0 - 0.5) / 0.25, accuracy: 1e-6)      // padding row, channel 0
        XCTAssertEqual(out[1], (0 - 0.25) / 0.5, accuracy: 1e-6)      // padding row, channel 1
        XCTAssertEqual(out[6], (1 / 255 - 0.5) / 0.25, accuracy: 1e-6) // out(1, 0) = in(0, 0), channel 0
        XCTAssertEqual(out[7], (10 / 255 - 0.25) / 0.5, accuracy: 1e-6)
    }

    func testDrawsCoverTheRangeAndFlipHalfTheTime() {
        let dataset = ImageDataset(shape: ImageShape(height: 2, width: 2, channels: 1), pixels: [UInt8](repeating: 0, count: 4),
                                   labels: [0], classNames: ["x"])
        let assembler = BatchAssembler(dataset: dataset, statistics: ChannelStatistics(mean: [0], standardDeviation: [1]),
                                       augmentation: .cifar, seed: 3)
        var offsets = Set<Int>(), flips = 0
        let n = 4000
        for position in 0..<n {
            let draw = assembler.draw(epoch: 1, step: 2, rank: 0, position: position)
            offsets.insert(draw.dy); offsets.insert(draw.dx)
            if draw.flip { flips += 1 }
        }
        XCTAssertEqual(offsets, Set(0...8))
        XCTAssertEqual(Double(flips) / Double(n), 0.5, accuracy: 0.04)  // SE 0.008: 5σ
        let noFlip = BatchAssembler(dataset: dataset, statistics: ChannelStatistics(mean: [0], standardDeviation: [1]),
                                    augmentation: Augmentation(cropPadding: 4), seed: 3)
        XCTAssert((0..<100).allSatisfy { !noFlip.draw(epoch: 0, step: 0, rank: 0, position: $0).flip })
    }

    func testBatchIsAPureFunctionOfSeedEpochStepRank() throws {
        let dataset = try DatasetSource.resolve(try DatasetFixtures.cifar10Folder()).load(.train)
        let statistics = ChannelStatistics(of: dataset)
        func batch(seed: UInt64 = 1, epoch: Int = 2, step: Int = 3, rank: Int = 1) -> [Float] {
            BatchAssembler(dataset: dataset, statistics: statistics, augmentation: .cifar, seed: seed)
                .assemble(indices: [7, 2, 9, 0], epoch: epoch, step: step, rank: rank).images
        }
        let reference = batch()
        XCTAssertEqual(batch(), reference)
        XCTAssertNotEqual(batch(seed: 2), reference)
        XCTAssertNotEqual(batch(epoch: 3), reference)
        XCTAssertNotEqual(batch(step: 4), reference)
        XCTAssertNotEqual(batch(rank: 0), reference)
        let plain = BatchAssembler(dataset: dataset, statistics: statistics, augmentation: .none, seed: 1)
            .assemble(indices: [7, 2], epoch: 0, step: 0, rank: 0)
        XCTAssertEqual(plain.labels, [7, 2])
        XCTAssertEqual(plain.images[3], (Float(dataset.pixels[7 * 3072 + 3]) / 255 - statistics.mean[0]) / statistics.standardDeviation[0],
                       accuracy: 1e-5)
    }
}
