import Datasets
import Foundation
import XCTest

/// The real datasets, where present (launch/setup.sh unpacks CIFAR; Debian ships Fashion-MNIST).
final class RealDataTests: XCTestCase {
    func testFashionMNISTCounts() throws {
        let source = try DatasetFixtures.realSource("fashion-mnist", split: .train)
        let train = try source.load(.train)
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(train.shape, ImageShape(height: 28, width: 28, channels: 1))
        XCTAssertEqual(train.countsPerClass, [Int](repeating: 6000, count: 10))
        XCTAssertEqual(train.classNames[9], "Ankle boot")
        let test = try source.load(.test)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.countsPerClass, [Int](repeating: 1000, count: 10))
    }

    func testCIFAR10CountsAndFirstTestLabels() throws {
        let source = try DatasetFixtures.realSource("cifar10", split: .train)
        let train = try source.load(.train)
        XCTAssertEqual(train.count, 50_000)
        XCTAssertEqual(train.countsPerClass, [Int](repeating: 5000, count: 10))
        XCTAssertEqual(train.classNames, CIFARReader.cifar10ClassNames)
        let test = try source.load(.test)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.countsPerClass, [Int](repeating: 1000, count: 10))
        XCTAssertEqual(Array(test.labels.prefix(10)), [3, 8, 8, 0, 6, 6, 1, 6, 3, 1])
    }

    /// CIFAR-10's training statistics as widely quoted (e.g. in pytorch-cifar code):
    /// mean (0.4914, 0.4822, 0.4465), population std (0.2470, 0.2435, 0.2616), to 4 decimals.
    func testCIFAR10ChannelStatistics() throws {
        let source = try DatasetFixtures.realSource("cifar10", split: .train)
        let statistics = ChannelStatistics(of: try source.load(.train))
        for (value, expected) in zip(statistics.mean, [0.4914, 0.4822, 0.4465] as [Float]) {
            XCTAssertEqual(value, expected, accuracy: 1e-4)
        }
        for (value, expected) in zip(statistics.standardDeviation, [0.2470, 0.2435, 0.2616] as [Float]) {
            XCTAssertEqual(value, expected, accuracy: 1e-4)
        }
    }

    func testCIFAR100TestSplit() throws {
        let source = try DatasetFixtures.realSource("cifar100", split: .test)
        let test = try source.load(.test)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.labels[0], 49)
        XCTAssertEqual(test.countsPerClass, [Int](repeating: 100, count: 100))
        let coarse = try DatasetSource.resolve("cifar100", dataDirectory: DatasetFixtures.realDataDirectory,
                                               coarseLabels: true).load(.test)
        XCTAssertEqual(coarse.labels[0], 10)
        XCTAssertEqual(coarse.countsPerClass, [Int](repeating: 500, count: 20))
    }
}
