import Datasets
import Foundation
import TestSupport
import XCTest

/// Small dataset files written by the tests, and the way to the real data.
enum DatasetFixtures {
    /// A fresh empty folder under the system's temporary folder.
    static func temporaryFolder(_ name: String = #function) throws -> String {
        let clean = name.filter { $0.isLetter || $0.isNumber }
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("multimix-\(clean)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes `bytes` to `folder/name` and returns the path.
    @discardableResult
    static func write(_ bytes: [UInt8], to folder: String, name: String) -> String {
        let path = (folder as NSString).appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Gzips the file at `path` in place (to `path.gz`, removing `path`), with the system's gzip.
    static func gzip(_ path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-f", path]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }

    /// The pixel byte a fixture image holds at (image, y, x, channel) in HWC terms.
    static func pixel(image: Int, y: Int, x: Int, channel: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: image * 7 + y * 5 + x * 3 + channel * 50)
    }

    /// CIFAR records (planar CHW pixels from ``pixel(image:y:x:channel:)``), label bytes first.
    static func cifarRecords(labels: [[UInt8]], firstImage: Int = 0) -> [UInt8] {
        var bytes = [UInt8]()
        for (offset, labelBytes) in labels.enumerated() {
            bytes += labelBytes
            for channel in 0..<3 {
                for y in 0..<32 {
                    for x in 0..<32 { bytes.append(pixel(image: firstImage + offset, y: y, x: x, channel: channel)) }
                }
            }
        }
        return bytes
    }

    /// A CIFAR-10 folder: five train batches of two images, a test batch of three, and label names.
    static func cifar10Folder() throws -> String {
        let folder = try temporaryFolder()
        for batch in 1...5 {
            let first = 2 * (batch - 1)
            write(cifarRecords(labels: [[UInt8(first % 10)], [UInt8((first + 1) % 10)]], firstImage: first),
                  to: folder, name: "data_batch_\(batch).bin")
        }
        write(cifarRecords(labels: [[3], [8], [8]], firstImage: 100), to: folder, name: "test_batch.bin")
        write(Array(CIFARReader.cifar10ClassNames.joined(separator: "\n").utf8) + [10, 10], to: folder,
              name: "batches.meta.txt")
        return folder
    }

    /// An IDX file: header for `dimensions`, then `payload`.
    static func idx(dimensions: [Int], payload: [UInt8], magic: [UInt8]? = nil) -> [UInt8] {
        var bytes = magic ?? [0, 0, 0x08, UInt8(dimensions.count)]
        for size in dimensions { bytes += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: size >> $0) } }
        return bytes + payload
    }

    /// An MNIST-style folder with `trainCount` and `testCount` images of 4x3 pixels.
    static func idxFolder(trainCount: Int = 6, testCount: Int = 4, gzipped: Bool = false) throws -> String {
        let folder = try temporaryFolder()
        for (stem, count) in [("train", trainCount), ("t10k", testCount)] {
            let pixels = (0..<count * 12).map { UInt8(truncatingIfNeeded: $0) }
            let images = write(idx(dimensions: [count, 4, 3], payload: pixels), to: folder, name: "\(stem)-images-idx3-ubyte")
            let labels = write(idx(dimensions: [count], payload: (0..<count).map { UInt8($0 % 10) }),
                               to: folder, name: "\(stem)-labels-idx1-ubyte")
            if gzipped { try gzip(images); try gzip(labels) }
        }
        return folder
    }

    /// The real data folder: `$MULTIMIX_DATA_DIR`, else `<repo>/.cache/data` (filled by launch/setup.sh).
    static var realDataDirectory: String { Repository.dataDirectory }

    /// The source for a real dataset, or a skip naming launch/setup.sh when its files are absent.
    static func realSource(_ name: String, split: DatasetSplit = .test) throws -> DatasetSource {
        let source = try DatasetSource.resolve(name, dataDirectory: realDataDirectory)
        guard source.availableSplits.contains(split) else {
            throw XCTSkip("\(name) \(split) split not found under \(source.root): run launch/setup.sh (or set MULTIMIX_DATA_DIR)")
        }
        return source
    }
}
