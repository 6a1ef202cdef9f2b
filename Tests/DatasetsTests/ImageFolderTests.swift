import Datasets
import Foundation
import Glibc
import ImageWriting
import Tensors
import TestSupport
import XCTest

/// Image folders: the listing pass, decoding against Pillow, the transforms' geometry and resampling,
/// the assembler's determinism and its bad-image policies.
final class ImageFolderTests: XCTestCase {
    // MARK: - Listing

    func testListingFollowsTorchvisionsOrderAndCountsOtherFiles() throws {
        let root = try DatasetFixtures.temporaryFolder()
        let files = ["train/b/2.JPG", "train/b/1.png", "train/a/x.jpeg", "train/a/sub/y.jpg", "train/a/a b/w.jpg",
                     "train/a/notes.txt", "train/.hidden/z.jpg", "val/a/v.jpg"]
        for file in files { try write(Array("x".utf8), at: root + "/" + file) }
        let listing = try ImageFolderListing(root: root)
        XCTAssertEqual(listing.classNames, ["a", "b"])
        XCTAssertEqual((0..<listing.train.count).map { listing.train.displayPath(of: $0) },
                       ["a/x.jpeg", "a/a b/w.jpg", "a/sub/y.jpg", "b/1.png", "b/2.JPG"].map { root + "/train/" + $0 })
        XCTAssertEqual(listing.train.labels, [0, 0, 0, 1, 1])
        XCTAssertEqual(listing.otherFiles, 1)
        XCTAssertEqual(listing.validation?.labels, [0])
    }

    func testListingRefusesUnusableTreesInOneLine() throws {
        let root = try DatasetFixtures.temporaryFolder()
        func refusal() -> String {
            do { _ = try ImageFolderListing(root: root); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertTrue(refusal().contains("no train/ folder"), refusal())
        try FileManager.default.createDirectory(atPath: root + "/train", withIntermediateDirectories: true)
        XCTAssertTrue(refusal().contains("no class folders"), refusal())
        try write(Array("x".utf8), at: root + "/train/cat/1.jpg")
        try FileManager.default.createDirectory(atPath: root + "/train/dog", withIntermediateDirectories: true)
        try write(Array("x".utf8), at: root + "/train/dog/readme.txt")
        XCTAssertTrue(refusal().contains("train/dog: no images"), refusal())
        try write(Array("x".utf8), at: root + "/train/dog/1.png")
        try write(Array("x".utf8), at: root + "/val/bird/1.png")
        XCTAssertTrue(refusal().contains("val/bird: a class that train/ does not have"), refusal())
        XCTAssertTrue(refusal().split(separator: "\n").count == 1)
        do { _ = try ImageFolderListing(root: root + "/missing"); XCTFail("accepted") } catch {
            XCTAssertTrue("\(error)".contains("no such folder"), "\(error)")
        }
    }

    func testLinkLoopsFIFOsAndNamesThatAreNotUTF8() throws {
        let root = try DatasetFixtures.temporaryFolder()
        let jpeg = try ImageEncoder.jpeg([UInt8](repeating: 90, count: 8 * 8 * 3), width: 8, height: 8)
        try write(jpeg, at: root + "/train/a/ok.jpg")
        XCTAssertEqual(symlink(root + "/train/a", root + "/train/a/loop"), 0)
        XCTAssertEqual(mkfifo(root + "/train/a/pipe.jpg", 0o644), 0)
        let oddName: [UInt8] = Array((root + "/train/a/").utf8) + [0xFF, 0xFE] + Array(".jpg".utf8)
        let descriptor = (oddName + [0]).withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { open($0, O_CREAT | O_WRONLY, 0o644) }
        }
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        _ = jpeg.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)

        let listing = try ImageFolderListing(root: root)
        XCTAssertEqual(listing.train.count, 2, "ok.jpg and the odd name once each (the loop visited once)")
        XCTAssertEqual(listing.otherFiles, 1, "the FIFO is counted, never opened")
        let decoder = ImageDecoder(maxPixels: 1 << 20)
        for index in 0..<listing.train.count {
            XCTAssertNoThrow(try decoder.read(listing.train, example: index), listing.train.displayPath(of: index))
        }
        XCTAssertTrue((0..<2).contains { listing.train.displayPath(of: $0).contains("\u{FFFD}") })
        // A FIFO given directly is refused at once, not waited on.
        XCTAssertThrowsError(try decoder.read(path: root + "/train/a/pipe.jpg")) { error in
            XCTAssertEqual((error as? ImageDecodeError)?.kind, .unreadable)
        }
    }

    // MARK: - Decoding against Pillow

    func testFullScaleDecodeEqualsPillowPixelForPixel() throws {
        let photos = try ImageFolderFixture.folder(size: 500, trainPerClass: 1, valPerClass: 1)
        let small = try ImageFolderFixture.folder(size: 32, trainPerClass: 2, valPerClass: 1, corrupt: true)
        let png = try ImageFolderFixture.folder(size: 32, trainPerClass: 1, valPerClass: 1, format: "png")
        let paths = [photos + "/train/cat/00000.jpg", photos + "/val/ship/00000.jpg", small + "/train/dog/00001.jpg",
                     small + "/bad/airplane/cmyk.jpg", small + "/bad/airplane/gray.png", png + "/train/frog/00000.png"]
        let decoder = ImageDecoder(maxPixels: 1 << 24)
        for path in paths {
            let ours = try decoder.decodeWhole(path: path)
            let pillow = try pillowPixels("decode", path)
            XCTAssertEqual(ours.width, pillow.width, path)
            XCTAssertEqual(ours.height, pillow.height, path)
            XCTAssertTrue(ours.rgb == pillow.rgb, "\(path): not byte for byte Pillow's")
        }
        // 16-bit grey: the top 8 bits in every channel (40000 → 156); Pillow would clip to 255.
        let sixteen = try decoder.decodeWhole(path: small + "/bad/airplane/sixteen-bit.png")
        XCTAssertEqual(Set(sixteen.rgb), [156])
    }

    func testBadFilesAreRefusedWithTheirReason() throws {
        let bad = try ImageFolderFixture.folder(size: 32, trainPerClass: 2, valPerClass: 1, corrupt: true) + "/bad/airplane/"
        let decoder = ImageDecoder(maxPixels: 89_478_485)
        func failure(_ name: String) -> ImageDecodeError? {
            do { _ = try decoder.decodeWhole(path: bad + name); return nil } catch { return error }
        }
        XCTAssertEqual(failure("truncated.jpg")?.kind, .corrupt)
        XCTAssertTrue(failure("truncated.jpg")?.reason.contains("Premature end") ?? false, "\(String(describing: failure("truncated.jpg")))")
        XCTAssertEqual(failure("empty.jpg"), ImageDecodeError(kind: .notAnImage, reason: "empty file"))
        XCTAssertEqual(failure("text.jpg")?.kind, .notAnImage)
        XCTAssertEqual(failure("bomb.jpg")?.kind, .tooLarge)
        XCTAssertTrue(failure("bomb.jpg")?.reason.contains("60000x60000") ?? false)
        // Refused by its header, before any path (training, inspection) sizes a buffer from it.
        XCTAssertNoThrow(try decoder.read(path: bad + "bomb.jpg"))
        XCTAssertThrowsError(try decoder.header()) { error in XCTAssertEqual((error as? ImageDecodeError)?.kind, .tooLarge) }
        XCTAssertThrowsError(try decoder.decode(scale: 1, columns: 0..<60000, rows: 0..<60000, scaledWidth: 60000)) { error in
            XCTAssertEqual((error as? ImageDecodeError)?.kind, .tooLarge)
        }
        XCTAssertNil(failure("ok.jpg"))
    }

    func testCroppedAndScaledDecodesAreTheWholeImagesRectangles() throws {
        let path = try ImageFolderFixture.folder(size: 500, trainPerClass: 1, valPerClass: 1) + "/train/horse/00000.jpg"
        let decoder = ImageDecoder(maxPixels: 1 << 24)
        try decoder.read(path: path)
        let header = try decoder.header()
        XCTAssertTrue(header.isJPEG)
        for scale in [1, 2, 4] {
            let width = (header.width + scale - 1) / scale, height = (header.height + scale - 1) / scale
            let whole = try decoder.decode(scale: scale, columns: 0..<width, rows: 0..<height, scaledWidth: width)
            XCTAssertEqual(whole.width, width)
            let wholePixels = decodedPixels(decoder, whole)
            let columns = (width / 5)..<(width / 2), rows = (height / 3)..<(height * 3 / 4)
            let crop = try decoder.decode(scale: scale, columns: columns, rows: rows, scaledWidth: width)
            XCTAssertLessThanOrEqual(crop.x, columns.lowerBound)
            XCTAssertGreaterThanOrEqual(crop.x + crop.width, columns.upperBound)
            let cropPixels = decodedPixels(decoder, crop)
            var mismatches = 0
            for y in 0..<crop.height {
                for x in (columns.lowerBound - crop.x) * 3 ..< (columns.upperBound - crop.x) * 3
                where cropPixels[y * crop.width * 3 + x] != wholePixels[(rows.lowerBound + y) * width * 3 + crop.x * 3 + x] {
                    mismatches += 1
                }
            }
            XCTAssertEqual(mismatches, 0, "scale 1/\(scale): the cropped decode differs from the whole image's rectangle")
        }
    }

    // MARK: - Transforms

    func testResamplingMatchesPillowsBilinearResizeOfTheBox() throws {
        let folder = try ImageFolderFixture.folder(size: 32, trainPerClass: 1, valPerClass: 1, format: "png")
        let photos = try ImageFolderFixture.folder(size: 500, trainPerClass: 1, valPerClass: 1)
        let cases: [(path: String, size: Int, box: ImageTransform.Box)] = [
            (photos + "/train/deer/00000.jpg", 224, ImageTransform.centerCropBox(width: 500, height: 375, size: 224, fraction: 0.875)),
            (photos + "/train/deer/00000.jpg", 64, .init(x: 37, y: 12, width: 301, height: 250)),   // downscale ×4.7, antialiased
            (folder + "/train/cat/00000.png", 48, .init(x: 3, y: 5, width: 20, height: 24)),         // upscale
        ]
        for (path, size, box) in cases {
            let pillow = try pillowPixels("resize", path, size: size, box: box)
            let ours = try renderUnnormalised(path: path, size: size, box: box, allowDCTScaling: false)
            let differences = zip(ours, pillow.rgb).map { abs($0 - Float($1)) }
            // Pillow rounds to 8 bits after each of its two passes (≤ 0.5 each): ours stays in Float.
            XCTAssertLessThanOrEqual(differences.max()!, 1.5, "\(path) → \(size): largest difference")
            XCTAssertLessThan(differences.reduce(0, +) / Float(differences.count), 0.35, "\(path) → \(size): mean difference")
        }
    }

    func testDCTScalingKeepsTheResultCloseToAFullScaleDecode() throws {
        let path = try ImageFolderFixture.folder(size: 500, trainPerClass: 1, valPerClass: 1) + "/val/truck/00000.jpg"
        let box = ImageTransform.Box(x: 10, y: 20, width: 460, height: 340)
        XCTAssertEqual(ImageTransform.dctScale(for: box, size: 112), 2)
        let scaled = try renderUnnormalised(path: path, size: 112, box: box, allowDCTScaling: true)
        let full = try renderUnnormalised(path: path, size: 112, box: box, allowDCTScaling: false)
        let meanDifference = zip(scaled, full).map { abs($0 - $1) }.reduce(0, +) / Float(full.count)
        XCTAssertLessThan(meanDifference, 3, "the 1/2-scale DCT decode should change pixels by a few levels at most")
    }

    func testRandomResizedCropFollowsTorchvisionsRules() {
        let stream = RandomStream(seed: 7, epoch: 1, step: 2, rank: 0, purpose: .resizedCrop)
        let scale = 0.08...1.0, ratio = (3.0 / 4)...(4.0 / 3)
        var fractions = [Double]()
        for position in 0..<400 {
            let words = ImageTransform.Words(stream: stream, position: position)
            let box = ImageTransform.randomResizedCropBox(width: 500, height: 375, scale: scale, ratio: ratio, words: words)
            XCTAssertEqual(box, ImageTransform.randomResizedCropBox(width: 500, height: 375, scale: scale, ratio: ratio, words: words))
            XCTAssertTrue(box.x >= 0 && box.y >= 0 && box.x + box.width <= 500 && box.y + box.height <= 375, "\(box)")
            XCTAssertEqual(box.x, box.x.rounded())
            let fraction = box.width * box.height / (500 * 375)
            // Rounding w and h moves the area by at most about one row and one column.
            XCTAssertTrue(fraction >= 0.08 * 0.95 && fraction <= 1.0, "\(fraction)")
            let aspect = box.width / box.height
            XCTAssertTrue(aspect >= 0.75 * 0.95 && aspect <= (4.0 / 3) * 1.05, "\(aspect)")
            fractions.append(fraction)
        }
        // The area fraction is drawn uniformly in [0.08, 1] before rejection: a spread, not a constant.
        XCTAssertGreaterThan(fractions.max()! - fractions.min()!, 0.6)
        // No box fits a 1-pixel-high strip at ratio [3/4, 4/3]: the fallback centre crop at ratio 4/3.
        let strip = ImageTransform.randomResizedCropBox(width: 400, height: 3, scale: 0.5...1, ratio: ratio,
                                                        words: .init(stream: stream, position: 0))
        XCTAssertEqual(strip, .init(x: 198, y: 0, width: 4, height: 3))
        // Evaluation: 500×375 → shorter side 256 (341×256), centre 224 from (58, 16).
        let centre = ImageTransform.centerCropBox(width: 500, height: 375, size: 224, fraction: 0.875)
        XCTAssertEqual(centre.x, 58 * 500 / 341, accuracy: 1e-9)
        XCTAssertEqual(centre.y, 16 * 375 / 256, accuracy: 1e-9)
        XCTAssertEqual(centre.width, 224 * 500 / 341, accuracy: 1e-9)
    }

    // MARK: - Assembler

    func testBatchesAreTheSameForAnyWorkerCountAndChangeWithTheStep() throws {
        let listing = try ImageFolderListing(root: ImageFolderFixture.folder(size: 500, trainPerClass: 2, valPerClass: 1))
        var settings = ImageFolderPipeline.Settings(imageSize: 96)
        func batch(workers: Int, step: Int) -> [Float] {
            settings.workers = workers
            let assembler = ImageFolderPipeline.assembler(listing.train, settings: settings, isTraining: true, seed: 3)
            var images = [Float](repeating: .nan, count: 6 * 96 * 96 * 3)
            var labels = [Int32](repeating: -1, count: 6)
            let report = [0, 5, 7, 11, 13, 19].withUnsafeBufferPointer { indices in
                images.withUnsafeMutableBufferPointer { imageBuffer in
                    labels.withUnsafeMutableBufferPointer { labelBuffer in
                        assembler.assemble(indices: indices, epoch: 0, step: step, rank: 1, images: imageBuffer, labels: labelBuffer)
                    }
                }
            }
            XCTAssertEqual(report, .clean)
            XCTAssertEqual(labels, [0, 2, 3, 5, 6, 9].map(Int32.init))
            return images
        }
        let one = batch(workers: 1, step: 4)
        XCTAssertFalse(one.contains { !$0.isFinite })
        XCTAssertTrue(one == batch(workers: 3, step: 4), "a batch must not depend on the worker count")
        XCTAssertFalse(one == batch(workers: 1, step: 5))
    }

    func testBadImagesAreReplacedOrReported() throws {
        let folder = try ImageFolderFixture.folder(size: 32, trainPerClass: 2, valPerClass: 1, corrupt: true)
        let bad = folder + "/bad/airplane/"
        let paths = ["ok.jpg", "truncated.jpg", "gray.png", "empty.jpg"].map { Array((bad + $0).utf8) }
        let files = ImageFileList(paths: PathTable(paths), labels: [0, 0, 0, 0], classNames: ["airplane"])
        var settings = ImageFolderPipeline.Settings(imageSize: 32)
        func assemble(_ policy: BadImagePolicy) -> (AssemblyReport, [Float]) {
            settings.onBadImage = policy
            let assembler = ImageFolderPipeline.assembler(files, settings: settings, isTraining: false, seed: 0, onBadImage: policy)
            var images = [Float](repeating: .nan, count: 4 * 32 * 32 * 3)
            var labels = [Int32](repeating: 0, count: 4)
            let report = [0, 1, 2, 3].withUnsafeBufferPointer { indices in
                images.withUnsafeMutableBufferPointer { i in labels.withUnsafeMutableBufferPointer { l in
                    assembler.assemble(indices: indices, epoch: 0, step: 0, rank: 0, images: i, labels: l)
                } }
            }
            return (report, images)
        }
        let (skipped, images) = assemble(.skip)
        XCTAssertEqual(skipped, AssemblyReport(badImages: 2, failure: nil))
        let size = 32 * 32 * 3
        XCTAssertEqual(Array(images[size..<(2 * size)]), Array(images[(2 * size)..<(3 * size)]),
                       "truncated.jpg is replaced by the next image of its class, gray.png")
        XCTAssertTrue(Array(images[(3 * size)..<(4 * size)]) == Array(images[0..<size]),
                       "empty.jpg (the class's last) by the first, ok.jpg")
        let (stopped, _) = assemble(.error)
        XCTAssertEqual(stopped.badImages, 0)
        XCTAssertTrue(stopped.failure?.hasPrefix(bad + "truncated.jpg: JPEG: Premature end") ?? false, "\(String(describing: stopped.failure))")
    }

    // MARK: - Inspection

    func testInspectionDecodesEveryFileAndNamesTheBadOnes() throws {
        let bad = try ImageFolderFixture.folder(size: 32, trainPerClass: 2, valPerClass: 1, corrupt: true) + "/bad/airplane"
        let root = try DatasetFixtures.temporaryFolder()
        try FileManager.default.createDirectory(atPath: root + "/train", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: bad, toPath: root + "/train/airplane")
        var calls = 0
        let inspection = try ImageFolderInspection(root: root, maxPixels: 89_478_485) { done, total in
            calls += 1
            XCTAssertEqual(total, 8)
            XCTAssertEqual(done, calls)
        }
        XCTAssertEqual(calls, 8)
        let named = inspection.badFiles.map { ($0 as NSString).lastPathComponent.split(separator: ":")[0] }
        XCTAssertEqual(named, ["bomb.jpg", "empty.jpg", "text.jpg", "truncated.jpg"])
        let text = inspection.text
        XCTAssertTrue(text.contains("bad      4 files"), text)
        XCTAssertTrue(text.contains("60000x60000 pixels is above the limit"), text)
        XCTAssertTrue(text.contains("normalize {mean: ["), text)
        XCTAssertTrue(text.contains("2 JPEG, 2 PNG"), text)
    }

    // MARK: - Helpers

    private func write(_ bytes: [UInt8], at path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    }

    private func pillowPixels(_ command: String, _ path: String, size: Int = 0, box: ImageTransform.Box? = nil) throws
        -> (width: Int, height: Int, rgb: [UInt8]) {
        let out = try DatasetFixtures.temporaryFolder() + "/pixels.raw"
        var arguments = [Repository.root.appendingPathComponent("Tests/DatasetsTests/image_reference.py").path, command, path, out]
        if let box { arguments += ["\(size)", "\(box.x)", "\(box.y)", "\(box.x + box.width)", "\(box.y + box.height)"] }
        let result = try PythonReference.runImages(arguments)
        XCTAssertEqual(result.status, 0, result.output)
        let size = try JSONDecoder().decode([Int].self, from: Data(result.output.split(separator: "\n").last!.utf8))
        return (size[0], size[1], [UInt8](try Data(contentsOf: URL(fileURLWithPath: out))))
    }

    private func decodedPixels(_ decoder: ImageDecoder, _ region: ImageDecoder.Region) -> [UInt8] {
        decoder.pixels(of: region)
    }

    /// The transform's output for `box`, in pixel units (mean 0, std 1/255).
    private func renderUnnormalised(path: String, size: Int, box: ImageTransform.Box, allowDCTScaling: Bool) throws -> [Float] {
        let renderer = ImageRenderer(size: size, maxPixels: 1 << 24)
        renderer.allowDCTScaling = allowDCTScaling
        try renderer.decoder.read(path: path)
        let header = try renderer.decoder.header()
        var out = [Float](repeating: .nan, count: size * size * 3)
        let identity = ChannelStatistics(mean: [0, 0, 0], standardDeviation: [Float](repeating: 1.0 / 255, count: 3))
        try out.withUnsafeMutableBufferPointer { buffer in
            try renderer.render(header: header, draw: .init(box: box), statistics: identity, into: buffer.baseAddress!)
        }
        return out
    }
}
