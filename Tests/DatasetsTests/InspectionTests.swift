import Datasets
import Foundation
import ImageWriting
import XCTest

/// What `multimix data inspect` is built from: the report, statistics and their cache, PNG, grid.
final class InspectionTests: XCTestCase {
    func testReportListsFormatCountsShapeAndStatistics() throws {
        let folder = try DatasetFixtures.idxFolder(trainCount: 6, testCount: 4)
        let report = try DatasetReport(source: try DatasetSource.resolve(folder))
        let lines = report.text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "dataset  IDX (MNIST-style) at \(folder)")
        XCTAssertEqual(lines[1], "images   4x3x1 (height x width x channels, 8-bit), 10 classes")
        XCTAssertEqual(lines[2], "splits   train 6, test 4")
        XCTAssertEqual(lines[3], "class      train    test")
        XCTAssertEqual(lines[4], "    0 0        1       1")
        XCTAssertEqual(lines[9], "    5 5        1       0")
        // Train pixels are 0...71: mean 35.5 / 255, population std sqrt((72² − 1) / 12) / 255.
        XCTAssertEqual(report.statistics.mean[0], 35.5 / 255, accuracy: 1e-6)
        XCTAssertEqual(report.statistics.standardDeviation[0], Float(((72.0 * 72 - 1) / 12).squareRoot() / 255), accuracy: 1e-6)
        XCTAssertEqual(lines[14], "mean     0.1392   (train split, per channel, pixel / 255)")
        XCTAssertEqual(lines[15], "std      0.0815")
        XCTAssertEqual(try DatasetReport(source: try DatasetSource.resolve(folder), statisticsSplit: .test).statisticsSplit, .test)
    }

    func testReportOnFolderWithoutSplitsSaysSo() throws {
        let folder = try DatasetFixtures.temporaryFolder()
        XCTAssertThrowsError(try DatasetReport(source: DatasetSource(format: .cifar10, root: folder))) { error in
            XCTAssertEqual("\(error)", "\(folder): no complete split found for CIFAR-10 binary; re-run launch/setup.sh or unpack the official archive again and point data.root at it")
        }
    }

    func testStatisticsAreCachedByFolder() throws {
        let folder = try DatasetFixtures.idxFolder()
        let cache = try DatasetFixtures.temporaryFolder()
        let source = try DatasetSource.resolve(folder)
        let computed = try ChannelStatistics.cached(for: source, cacheDirectory: cache)
        let path = ChannelStatistics.cachePath(for: source, cacheDirectory: cache)
        XCTAssert(FileManager.default.fileExists(atPath: path), path)
        // With the data gone, the cache still answers.
        try FileManager.default.removeItem(atPath: folder + "/train-images-idx3-ubyte")
        XCTAssertEqual(try ChannelStatistics.cached(for: source, cacheDirectory: cache), computed)
        // Another folder has its own entry (and here, no data to compute it from).
        let other = DatasetSource(format: .idx, root: folder + "-elsewhere")
        XCTAssertNotEqual(ChannelStatistics.cachePath(for: other, cacheDirectory: cache), path)
        XCTAssertThrowsError(try ChannelStatistics.cached(for: other, cacheDirectory: cache))
    }

    /// What PNGWriter writes, the image-folder reader reads back exactly (the chunk layout is
    /// ImageWritingTests').
    func testPNGRoundTripAndCRC() {
        let rgb = (0..<5 * 3 * 3).map { UInt8(truncatingIfNeeded: $0 * 17) }
        let png = PNGWriter.encode(width: 5, height: 3, rgb: rgb)
        let decoded = decodePNG(png)
        XCTAssertEqual(decoded?.width, 5)
        XCTAssertEqual(decoded?.height, 3)
        XCTAssertEqual(decoded?.rgb, rgb)
        var damaged = png
        damaged[40] ^= 1
        XCTAssertNil(decodePNG(damaged), "a flipped bit must fail its CRC")
    }

    func testGridPlacesImagesAndDrawsLabels() throws {
        let dataset = try DatasetSource.resolve(try DatasetFixtures.cifar10Folder()).load(.train)
        let canvas = ImageGrid.render(dataset, classes: [0, 1], perClass: 1, scale: 1)
        // Label column: "0 AIRPLANE" / "1 AUTOMOBILE" at text scale 2, 12 px a character, plus 2 x 2 px gaps.
        let labelWidth = BitmapFont.width(of: "1 automobile", scale: 2) + 4
        XCTAssertEqual(canvas.width, labelWidth + 32 + 2 + 2)
        XCTAssertEqual(canvas.height, 2 * (32 + 2) + 2)
        // Image 1 (the only one of class 1) sits at (labelWidth, 2 + 34); check a pixel.
        let pixel = canvas.pixel(x: labelWidth + 5, y: 2 + 34 + 7)
        let offset = (1 * 32 * 32 + 7 * 32 + 5) * 3
        XCTAssert(pixel == (dataset.pixels[offset], dataset.pixels[offset + 1], dataset.pixels[offset + 2]))
        // Some text ink in the label column of each row, none in the gap below the last row.
        for row in 0..<2 {
            let inked = (0..<labelWidth).contains { x in (2 + row * 34 ..< 2 + row * 34 + 32).contains { y in canvas.pixel(x: x, y: y) == (240, 240, 240) } }
            XCTAssert(inked, "row \(row) label")
        }
        XCTAssert(canvas.pixel(x: 1, y: canvas.height - 1) == (32, 32, 32))
    }
}
