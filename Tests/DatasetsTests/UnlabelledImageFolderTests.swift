import Datasets
import Foundation
import TestSupport
import XCTest

/// Folders of images without classes, scored as out-of-distribution sets.
final class UnlabelledImageFolderTests: XCTestCase {
    func testFlatAndNestedFoldersAreListedInTorchvisionsOrder() throws {
        let root = try DatasetFixtures.temporaryFolder()
        for file in ["b.JPG", "a.png", "notes.txt", "sub/y.jpeg", "a b/w.jpg", ".hidden/z.jpg"] {
            let path = root + "/" + file
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        }
        let files = try ImageFolderListing.unlabelledImages(in: root)
        XCTAssertEqual((0..<files.count).map { files.displayPath(of: $0) },
                       ["a.png", "b.JPG", "a b/w.jpg", "sub/y.jpeg"].map { root + "/" + $0 })
        XCTAssertEqual(files.labels, [0, 0, 0, 0])
        XCTAssertEqual(try ImageFolderListing.unlabelledImages(in: root + "/sub").count, 1)
    }

    func testAFolderWithoutImagesIsRefusedInOneLine() throws {
        let root = try DatasetFixtures.temporaryFolder()
        try FileManager.default.createDirectory(atPath: root + "/empty/inner", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: root + "/empty/inner/readme.txt", contents: Data("x".utf8)))
        func refusal(_ path: String) -> String {
            do { _ = try ImageFolderListing.unlabelledImages(in: path); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertEqual(refusal(root + "/empty"),
                       "\(root)/empty: no images (.jpg, .jpeg, .png) in this folder or below it; give a folder holding images (ROOT/*.jpg or ROOT/ANY/*.jpg)")
        XCTAssertEqual(refusal(root + "/none"), "\(root)/none: no such folder; give a folder holding images (ROOT/*.jpg or ROOT/ANY/*.jpg)")
    }

    /// An image folder's `val/` read as an OOD set with the folder's own evaluation transform gives
    /// the very tensors its evaluation loader gives (same files, same order, same crop and
    /// normalisation); resized to a smaller input, every image is still there, finite, of that size.
    func testImagesAreTransformedAsTheEvaluatedSplit() throws {
        let root = try ImageFolderFixture.folder(size: 64, trainPerClass: 1, valPerClass: 2)
        var settings = ImageFolderPipeline.Settings(imageSize: 48)
        settings.statistics = ChannelStatistics(mean: [0.5, 0.4, 0.3], standardDeviation: [0.2, 0.25, 0.3])
        let pipeline = try ImageFolderPipeline(root: root, settings: settings)
        let ood = try UnlabelledImageFolder(root: root + "/val", transform: settings.evaluationTransform, statistics: settings.statistics)
        XCTAssertEqual(ood.testCount, 20)
        XCTAssertEqual(ood.inputShape, pipeline.inputShape)
        func images(_ data: any TrainingData, rank: Int) -> [Float] {
            let loader = data.evaluationLoader(rank: rank, worldSize: 2, batchSize: 7)
            defer { loader.stop() }
            var all: [Float] = []
            while let batch = loader.next() { all += batch.images.prefix(batch.realCount * 48 * 48 * 3) }
            return all
        }
        for rank in 0..<2 {
            let expected = images(pipeline, rank: rank)
            XCTAssertEqual(expected.count, 10 * 48 * 48 * 3)
            XCTAssertTrue(images(ood, rank: rank) == expected, "rank \(rank)")
        }
        let small = try UnlabelledImageFolder(root: root + "/val", transform: ImageTransform(size: 32, geometry: .resize),
                                              statistics: settings.statistics)
        let loader = small.evaluationLoader(rank: 0, worldSize: 1, batchSize: 64)
        defer { loader.stop() }
        let batch = try XCTUnwrap(loader.next())
        XCTAssertEqual(batch.realCount, 20)
        XCTAssertEqual(batch.images.count, batch.count * 32 * 32 * 3)
        XCTAssertFalse(batch.images.prefix(20 * 32 * 32 * 3).contains { !$0.isFinite })
    }
}
