import Datasets
import Foundation
import XCTest

/// `data.validation_subset`: examples held out of training from the end of the training split,
/// balanced per class, never overlapping the training subset; and the noise OOD sets.
final class ValidationSplitTests: XCTestCase {
    /// The images of a dataset as byte blocks, to compare sets of images.
    private func images(_ dataset: ImageDataset) -> [[UInt8]] {
        let size = dataset.shape.elementCount
        return (0..<dataset.count).map { Array(dataset.pixels[($0 * size)..<(($0 + 1) * size)]) }
    }

    func testLastBalancedTakesTheLastExamplesOfEachClass() {
        let labels: [Int32] = [0, 1, 0, 1, 0, 1, 0, 2]
        let dataset = ImageDataset(shape: ImageShape(height: 1, width: 1, channels: 1), pixels: (0..<8).map(UInt8.init),
                                   labels: labels, classNames: ["a", "b", "c"])
        // 5 over 3 classes: quotas 2, 2, 1; met from the end: 7 (c), 6 (a), 5 (b), 4 (a), 3 (b).
        XCTAssertEqual(DatasetSubset.lastBalanced(count: 5).indices(in: dataset), [3, 4, 5, 6, 7])
        XCTAssertEqual(DatasetSubset.firstBalanced(count: 5).indices(in: dataset), [0, 1, 2, 3, 7])
    }

    func testValidationIsHeldOutOfTrainingAndSwapsInForTheTestSplit() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let cache = try DatasetFixtures.temporaryFolder()
        let source = try DatasetSource.resolve(folder)
        let data = try DataPipeline(source: source, subset: .firstBalanced(count: 10), validationCount: 3, cacheDirectory: cache)
        let full = try source.load(.train)
        XCTAssertEqual(data.validation?.count, 3)
        XCTAssertEqual(data.train?.count, 7)
        let held = Set(images(data.validation!)), trained = Set(images(data.train!))
        XCTAssertTrue(held.isDisjoint(with: trained))
        XCTAssertEqual(held.union(trained), Set(images(full)))
        // Statistics still come from the whole training split.
        XCTAssertEqual(data.statistics, ChannelStatistics(of: full))
        // Evaluating "the test split" of validationAsTest evaluates the validation examples.
        let swapped = try XCTUnwrap(data.validationAsTest)
        XCTAssertEqual(swapped.test.map(images), data.validation.map(images))
        XCTAssertNil(try DataPipeline(source: source, cacheDirectory: cache).validationAsTest)
    }

    func testRealFashionMNISTValidationIsBalancedAndDisjoint() throws {
        let source = try DatasetFixtures.realSource("fashion-mnist", split: .train)
        let data = try DataPipeline(source: source, subset: .firstBalanced(count: 2000), validationCount: 1000,
                                    cacheDirectory: try DatasetFixtures.temporaryFolder())
        XCTAssertEqual(data.validation?.countsPerClass, [Int](repeating: 100, count: 10))
        XCTAssertEqual(data.train?.countsPerClass, [Int](repeating: 200, count: 10))
        XCTAssertTrue(Set(images(data.validation!)).isDisjoint(with: Set(images(data.train!))))
    }

    /// Noise images have the statistics' per-channel mean and std (within sampling and clamping error)
    /// and are the same every time.
    func testNoiseImagesHaveTheGivenStatistics() {
        let statistics = ChannelStatistics(mean: [0.49, 0.48, 0.45], standardDeviation: [0.25, 0.24, 0.26])
        let shape = ImageShape(height: 8, width: 8, channels: 3)
        for kind in NoiseImages.Kind.allCases {
            let images = NoiseImages.make(kind, count: 200, shape: shape, statistics: statistics)
            XCTAssertEqual(images.count, 200)
            let measured = ChannelStatistics(of: images)
            for c in 0..<3 {
                XCTAssertEqual(measured.mean[c], statistics.mean[c], accuracy: 0.01, "\(kind) channel \(c)")
                // Clamping to [0, 1] trims the Gaussian's tails (≈ 2σ away here): a few percent less spread.
                XCTAssertEqual(measured.standardDeviation[c], statistics.standardDeviation[c], accuracy: 0.02, "\(kind) channel \(c)")
            }
            XCTAssertEqual(images.pixels, NoiseImages.make(kind, count: 200, shape: shape, statistics: statistics).pixels)
        }
        XCTAssertNotEqual(NoiseImages.make(.gaussian, count: 5, shape: shape, statistics: statistics).pixels,
                          NoiseImages.make(.uniform, count: 5, shape: shape, statistics: statistics).pixels)
    }
}
