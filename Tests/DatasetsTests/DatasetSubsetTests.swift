import Datasets
import XCTest

final class DatasetSubsetTests: XCTestCase {
    /// 3 classes, labels 0 0 0 0 1 1 2 0 1 2 2 2 (class 1 has three, class 2 four).
    let dataset = ImageDataset(shape: ImageShape(height: 1, width: 1, channels: 1), pixels: (0..<12).map { UInt8($0) },
                               labels: [0, 0, 0, 0, 1, 1, 2, 0, 1, 2, 2, 2], classNames: ["a", "b", "c"])

    func testFirstBalancedTakesEarliestPerClass() {
        XCTAssertEqual(DatasetSubset.firstBalanced(count: 6).indices(in: dataset), [0, 1, 4, 5, 6, 9])
        // 7 = 3 + 2 + 2: class 0 gets the extra one.
        XCTAssertEqual(DatasetSubset.firstBalanced(count: 7).indices(in: dataset), [0, 1, 2, 4, 5, 6, 9])
        XCTAssertEqual(DatasetSubset.firstBalanced(count: 0).indices(in: dataset), [])
        // Asking for more than a class has gives what there is.
        XCTAssertEqual(DatasetSubset.firstBalanced(count: 15).indices(in: dataset), Array(0..<12))
    }

    func testFractionAndAll() {
        XCTAssertEqual(DatasetSubset.fraction(0.5).indices(in: dataset), [0, 1, 4, 5, 6, 9])
        XCTAssertEqual(DatasetSubset.all.indices(in: dataset), Array(0..<12))
        let subset = DatasetSubset.fraction(0.25).apply(to: dataset)
        XCTAssertEqual(subset.labels, [0, 1, 2])
        XCTAssertEqual(subset.pixels, [0, 4, 6])
        XCTAssertEqual(subset.countsPerClass, [1, 1, 1])
    }
}
