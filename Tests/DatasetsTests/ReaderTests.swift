import Datasets
import Foundation
import XCTest

/// The CIFAR and IDX readers on small files the tests write, and every corruption case's message.
final class ReaderTests: XCTestCase {
    let refetch = "re-run launch/setup.sh or unpack the official archive again and point data.root at it"

    /// Asserts that `body` throws a ``DatasetError`` of `kind` whose one-line text is `message`.
    func assertDatasetError(_ kind: DatasetError.Kind, _ message: String, file: StaticString = #filePath,
                            line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("no error thrown; expected: \(message)", file: file, line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.kind, kind, file: file, line: line)
            XCTAssertEqual(error.description, message, file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testCIFAR10ReadsSplitsLabelsAndTurnsPixelsChannelLast() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let source = try DatasetSource.resolve(folder)
        XCTAssertEqual(source.format, .cifar10)
        XCTAssertEqual(source.availableSplits, [.train, .test])
        let train = try source.load(.train)
        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(train.labels, (0..<10).map(Int32.init))
        XCTAssertEqual(train.shape, ImageShape(height: 32, width: 32, channels: 3))
        XCTAssertEqual(train.classNames, CIFARReader.cifar10ClassNames)
        let test = try source.load(.test)
        XCTAssertEqual(test.labels, [3, 8, 8])
        for (image, y, x, channel) in [(0, 0, 0, 0), (1, 31, 0, 2), (2, 5, 17, 1), (2, 31, 31, 2)] {
            let offset = ((image * 32 + y) * 32 + x) * 3 + channel
            XCTAssertEqual(test.pixels[offset], DatasetFixtures.pixel(image: 100 + image, y: y, x: x, channel: channel))
        }
    }

    func testCIFAR100FineAndCoarseLabels() throws {
        let folder = try DatasetFixtures.temporaryFolder()
        DatasetFixtures.write(DatasetFixtures.cifarRecords(labels: [[10, 49], [19, 99], [0, 0]]), to: folder, name: "test.bin")
        let fine = try DatasetSource.resolve(folder)
        XCTAssertEqual(fine.format, .cifar100)
        XCTAssertEqual(fine.availableSplits, [.test])
        let fineTest = try fine.load(.test)
        XCTAssertEqual(fineTest.labels, [49, 99, 0])
        XCTAssertEqual(fineTest.classCount, 100)
        XCTAssertEqual(fineTest.pixels[3], DatasetFixtures.pixel(image: 0, y: 0, x: 1, channel: 0))
        let coarse = try DatasetSource.resolve(folder, coarseLabels: true).load(.test)
        XCTAssertEqual(coarse.labels, [10, 19, 0])
        XCTAssertEqual(coarse.classCount, 20)
    }

    func testIDXPlainAndGzipped() throws {
        for gzipped in [false, true] {
            let folder = try DatasetFixtures.idxFolder(gzipped: gzipped)
            let source = try DatasetSource.resolve(folder)
            XCTAssertEqual(source.format, .idx)
            XCTAssertEqual(source.availableSplits, [.train, .test])
            let train = try source.load(.train)
            XCTAssertEqual(train.count, 6)
            XCTAssertEqual(train.shape, ImageShape(height: 4, width: 3, channels: 1))
            XCTAssertEqual(train.labels, [0, 1, 2, 3, 4, 5])
            XCTAssertEqual(train.pixels, (0..<72).map { UInt8($0) })
            XCTAssertEqual(try source.load(.test).count, 4)
            // A file path resolves to its folder.
            XCTAssertEqual(try DatasetSource.resolve(folder + "/train-labels-idx1-ubyte" + (gzipped ? ".gz" : "")).root, folder)
        }
    }

    func testNamesResolveToDefaultOrGivenFolders() throws {
        XCTAssertEqual(try DatasetSource.resolve("CIFAR10", dataDirectory: "/d"), DatasetSource(format: .cifar10, root: "/d/cifar-10-batches-bin"))
        XCTAssertEqual(try DatasetSource.resolve("cifar100", dataDirectory: "/d", coarseLabels: true),
                       DatasetSource(format: .cifar100, root: "/d/cifar-100-binary", coarseLabels: true))
        XCTAssertEqual(try DatasetSource.resolve("mnist", dataDirectory: "/d").root, "/d/mnist")
        let fashion = try DatasetSource.resolve("fashion-mnist")
        XCTAssertEqual(fashion.root, "/usr/share/datasets/fashion-mnist")
        XCTAssertEqual(fashion.classNames, IDXReader.fashionMNISTClassNames)
        XCTAssertEqual(DatasetSource.named("cifar10", root: "/elsewhere")?.root, "/elsewhere")
        XCTAssertEqual(DatasetSource.named("fashion-mnist", root: "/x")?.classNames, IDXReader.fashionMNISTClassNames)
        XCTAssertNil(DatasetSource.named("imagenet"))
    }

    func testSubsetCopiesChosenImages() throws {
        let dataset = try DatasetSource.resolve(try DatasetFixtures.idxFolder()).load(.train)
        let subset = dataset.subset([4, 1])
        XCTAssertEqual(subset.labels, [4, 1])
        XCTAssertEqual(Array(subset.pixels[0..<12]), Array(dataset.pixels[48..<60]))
        XCTAssertEqual(Array(subset.pixels[12..<24]), Array(dataset.pixels[12..<24]))
        XCTAssertEqual(dataset.countsPerClass, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    }

    // MARK: Corruption cases

    func testMissingFolder() {
        let folder = "/nonexistent/multimix/cifar-10-batches-bin"
        assertDatasetError(.missing, "\(folder): data folder does not exist; fetch it with `multimix data fetch DATASET` (cifar10, cifar100, mnist or fashion-mnist), or point data.root (or the PATH argument) at the unpacked official archive") {
            _ = try DatasetSource(format: .cifar10, root: folder).load(.train)
        }
        assertDatasetError(.missing, "\(folder): data folder does not exist; fetch it with `multimix data fetch DATASET` (cifar10, cifar100, mnist or fashion-mnist), or point data.root (or the PATH argument) at the unpacked official archive") {
            _ = try DatasetSource.resolve(folder)
        }
    }

    func testMissingFileInFolder() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        try FileManager.default.removeItem(atPath: folder + "/data_batch_3.bin")
        assertDatasetError(.missing, "\(folder)/data_batch_3.bin: file does not exist; \(refetch)") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
    }

    func testUnrecognisedFolder() throws {
        let folder = try DatasetFixtures.temporaryFolder()
        DatasetFixtures.write([1, 2, 3], to: folder, name: "notes.txt")
        assertDatasetError(.unrecognised, "\(folder): no dataset files found (looked for CIFAR-10 data_batch_1.bin/test_batch.bin, CIFAR-100 train.bin/test.bin, IDX *-images-idx3-ubyte[.gz]); name a folder holding one of these, or one of: fashion-mnist, mnist, cifar10, cifar100") {
            _ = try DatasetSource.resolve(folder)
        }
    }

    func testEmptyFile() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let path = DatasetFixtures.write([], to: folder, name: "test_batch.bin")
        assertDatasetError(.empty, "\(path): file is empty (0 bytes); \(refetch)") {
            _ = try DatasetSource.resolve(folder).load(.test)
        }
    }

    /// A data file that is a FIFO (it blocked the read) or a link to a device (it never ended) is
    /// refused by name at once.
    func testDataFilesThatAreFIFOsOrDevicesAreRefused() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let path = folder + "/test_batch.bin"
        try? FileManager.default.removeItem(atPath: path)
        XCTAssertEqual(mkfifo(path, 0o644), 0)
        assertDatasetError(.unreadable, "\(path): is a FIFO, not a regular file; name the data file itself") {
            _ = try DatasetSource.resolve(folder).load(.test)
        }
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
        assertDatasetError(.unreadable, "\(path): is a device, not a regular file; name the data file itself") {
            _ = try DatasetSource.resolve(folder).load(.test)
        }
    }

    func testTruncatedCIFARRecord() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let records = DatasetFixtures.cifarRecords(labels: [[3], [8], [8]])
        let path = DatasetFixtures.write(Array(records.dropLast(100)), to: folder, name: "test_batch.bin")
        assertDatasetError(.truncated, "\(path): 9119 bytes is not a whole number of 3073-byte CIFAR-10 records (record 2 at byte 6146 has 2973 bytes); \(refetch)") {
            _ = try DatasetSource.resolve(folder).load(.test)
        }
    }

    func testCIFARLabelOutOfRange() throws {
        let folder = try DatasetFixtures.cifar10Folder()
        let path = DatasetFixtures.write(DatasetFixtures.cifarRecords(labels: [[3], [12], [8]]), to: folder, name: "test_batch.bin")
        assertDatasetError(.labelOutOfRange, "\(path): label 12 of record 1 (byte offset 3073) is outside 0...9; the file is damaged or is not CIFAR-10; \(refetch)") {
            _ = try DatasetSource.resolve(folder).load(.test)
        }
        let folder100 = try DatasetFixtures.temporaryFolder()
        let path100 = DatasetFixtures.write(DatasetFixtures.cifarRecords(labels: [[1, 2], [3, 100]]), to: folder100, name: "test.bin")
        assertDatasetError(.labelOutOfRange, "\(path100): fine label 100 of record 1 (byte offset 3075) is outside 0...99; the file is damaged or is not CIFAR-100; \(refetch)") {
            _ = try DatasetSource.resolve(folder100).load(.test)
        }
    }

    func testIDXWrongMagic() throws {
        let folder = try DatasetFixtures.idxFolder()
        let path = DatasetFixtures.write(DatasetFixtures.idx(dimensions: [6, 4, 3], payload: [UInt8](repeating: 0, count: 72),
                                                             magic: [0xDE, 0xAD, 0xBE, 0xEF]),
                                         to: folder, name: "train-images-idx3-ubyte")
        assertDatasetError(.badHeader, "\(path): magic number 0xDEADBEEF at byte 0 is not IDX (IDX starts with bytes 00 00, then type, then rank); expected an IDX images file (3 dimensions), such as MNIST's *-images-idx3-ubyte[.gz]") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
        // A labels file where the images file belongs: right magic shape, wrong rank.
        DatasetFixtures.write(DatasetFixtures.idx(dimensions: [6], payload: [UInt8](repeating: 0, count: 6)),
                              to: folder, name: "train-images-idx3-ubyte")
        assertDatasetError(.badHeader, "\(path): number of dimensions 1 at byte 3 (magic 0x00000801) should be 3 for images; expected an IDX images file (3 dimensions), such as MNIST's *-images-idx3-ubyte[.gz]") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
        DatasetFixtures.write([0, 0, 0x0D, 3] + [UInt8](repeating: 1, count: 12), to: folder, name: "train-images-idx3-ubyte")
        assertDatasetError(.badHeader, "\(path): data type 0x0D at byte 2 (magic 0x00000D03) is not unsigned byte 0x08; only 8-bit IDX image and label files are supported; convert the file to unsigned bytes") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
    }

    func testIDXTruncated() throws {
        let folder = try DatasetFixtures.idxFolder()
        let path = DatasetFixtures.write(DatasetFixtures.idx(dimensions: [6, 4, 3], payload: [UInt8](repeating: 0, count: 70)),
                                         to: folder, name: "train-images-idx3-ubyte")
        assertDatasetError(.truncated, "\(path): header promises 6x4x3 = 72 bytes after the 16-byte header, file has 70: item 5 (at byte 76) is incomplete; \(refetch)") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
        // A hostile header whose sizes overflow when multiplied is an error, not a trap.
        DatasetFixtures.write(DatasetFixtures.idx(dimensions: [0x7fff_ffff, 0x7fff_ffff, 0x7fff_ffff], payload: [1, 2, 3]),
                              to: folder, name: "train-images-idx3-ubyte")
        assertDatasetError(.truncated, "\(path): header promises 2147483647x2147483647x2147483647 = \(Int.max) bytes after the 16-byte header, file has 3: item 0 (at byte 16) is incomplete; \(refetch)") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
        DatasetFixtures.write([0, 0, 8, 3, 0, 0], to: folder, name: "train-images-idx3-ubyte")
        assertDatasetError(.truncated, "\(path): 6 bytes is shorter than the 16-byte header of a rank-3 IDX file; \(refetch)") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
    }

    func testIDXGzipTruncated() throws {
        let folder = try DatasetFixtures.idxFolder(trainCount: 2000, gzipped: true)
        let path = folder + "/train-images-idx3-ubyte.gz"
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        DatasetFixtures.write(Array(bytes.prefix(bytes.count / 2)), to: folder, name: "train-images-idx3-ubyte.gz")
        do {
            _ = try DatasetSource.resolve(folder).load(.train)
            XCTFail("truncated gzip accepted")
        } catch let error as DatasetError {
            XCTAssertEqual(error.kind, .truncated, error.description)
            XCTAssert(error.description.hasPrefix("\(path): gzip stream is damaged after "), error.description)
            XCTAssert(error.description.hasSuffix(refetch), error.description)
        }
    }

    func testIDXLabelOutOfRangeAndCountMismatch() throws {
        let folder = try DatasetFixtures.idxFolder()
        let path = DatasetFixtures.write(DatasetFixtures.idx(dimensions: [6], payload: [0, 1, 2, 13, 4, 5]),
                                         to: folder, name: "train-labels-idx1-ubyte")
        assertDatasetError(.labelOutOfRange, "\(path): label 13 of record 3 (byte offset 11) is outside 0...9; the file is damaged or holds a dataset with more than 10 classes") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
        DatasetFixtures.write(DatasetFixtures.idx(dimensions: [5], payload: [0, 1, 2, 3, 4]), to: folder, name: "train-labels-idx1-ubyte")
        assertDatasetError(.inconsistent, "\(path): 5 labels for 6 images in \(folder)/train-images-idx3-ubyte; use image and label files of the same split and release") {
            _ = try DatasetSource.resolve(folder).load(.train)
        }
    }
}
