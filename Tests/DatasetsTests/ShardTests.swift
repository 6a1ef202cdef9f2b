import Checksums
import Crypto
import Datasets
import Foundation
import SafeFiles
import Glibc
import Tensors
import TestSupport
import XCTest

/// Tar shards: packing (index counts, refusals), the order of an epoch (shuffle buffer, equal steps
/// per rank, exact resume), the round trip against the image folder, and hostile shards.
final class ShardTests: XCTestCase {
    var scratch: String!

    override func setUpWithError() throws { scratch = try DatasetFixtures.temporaryFolder() }
    override func tearDownWithError() throws { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }

    /// 200 training images (20 per class) and 50 in val/, packed into shards of about 100 kB.
    func packed(shardBytes: Int = 100_000) throws -> (listing: ImageFolderListing, folder: String, index: ShardIndex) {
        let listing = try ImageFolderListing(root: ImageFolderFixture.folder(size: 32, trainPerClass: 20, valPerClass: 5))
        let folder = scratch + "/shards-\(shardBytes)"
        let index = try ShardPacker.pack(listing, into: folder, shardBytes: shardBytes, seed: 3)
        return (listing, folder, index)
    }

    func testPackWritesShardsWhoseIndexMatchesTheFolderAndRefusesOccupiedFolders() throws {
        let (listing, folder, index) = try packed()
        XCTAssertEqual(index.classNames, listing.classNames)
        XCTAssertEqual(index.train.classCounts, [Int](repeating: 20, count: 10))
        XCTAssertEqual(index.val?.classCounts, [Int](repeating: 5, count: 10))
        XCTAssertEqual(index.train.count, 200)
        XCTAssertGreaterThan(index.train.shards.count, 3)
        XCTAssertEqual(try ShardIndex(folder: folder), index, "index.json reads back as written")
        for shard in index.train.shards + index.val!.shards {
            let bytes = try XCTUnwrap(FileManager.default.contents(atPath: folder + "/" + shard.file))
            XCTAssertEqual(bytes.count, shard.bytes)
            XCTAssertLessThanOrEqual(bytes.count, 100_000)
            XCTAssertEqual(SHA256.hash(data: bytes).hex, shard.sha256)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }, [],
                       "no temporary file left behind")
        // Every shard mixes classes (a seeded permutation of the listing).
        XCTAssertEqual(ShardPacker.trainingOrder(count: 200, seed: 3).sorted(), Array(0..<200))

        // An occupied folder, a file and a symlink are refused in one line; nothing is written.
        for target in [folder, folder + "/index.json"] {
            XCTAssertThrowsError(try ShardPacker.pack(listing, into: target, shardBytes: 100_000, seed: 0)) { error in
                XCTAssertFalse("\(error)".contains("\n"))
                XCTAssertTrue("\(error)".contains(target), "\(error)")
            }
        }
        let link = scratch + "/link"
        XCTAssertEqual(symlink(scratch + "/nowhere", link), 0)
        XCTAssertThrowsError(try ShardPacker.pack(listing, into: link, shardBytes: 100_000, seed: 0)) { error in
            XCTAssertTrue("\(error)".contains("symbolic link"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/nowhere"))
    }

    func testTheOrderIsWholeShardsThroughABufferAndTheSameStepsOnEveryRank() {
        let counts = [30, 25, 40, 31, 29]
        let samplers = (0..<2).map { ShardSampler(shardCounts: counts, worldSize: 2, rank: $0, seed: 9, shuffleBuffer: 1) }
        XCTAssertEqual(samplers[0].samplesPerRank, 25 + 29, "the two smallest shards: no rank falls short in any epoch")
        for epoch in 0..<4 {
            let shards = samplers.map { $0.shards(epoch: epoch) }
            XCTAssertEqual((shards[0] + shards[1]).sorted(), Array(0..<5))
            for (rank, sampler) in samplers.enumerated() {
                // Buffer 1: the rank's shards front to back, cut at samplesPerRank.
                let sequential = shards[rank].flatMap { sampler.starts[$0] ..< sampler.starts[$0] + counts[$0] }
                XCTAssertEqual(sampler.indices(epoch: epoch), Array(sequential.prefix(54)))
                // A buffer of 20: the same kind of examples, shuffled, none twice, none from another rank's shards.
                let shuffled = ShardSampler(shardCounts: counts, worldSize: 2, rank: rank, seed: 9, shuffleBuffer: 20).indices(epoch: epoch)
                XCTAssertEqual(shuffled.count, 54)
                XCTAssertEqual(Set(shuffled).count, 54)
                XCTAssertTrue(Set(shuffled).isSubset(of: Set(sequential)))
                XCTAssertNotEqual(shuffled, Array(sequential.prefix(54)))
                XCTAssertTrue(shuffled.enumerated().allSatisfy { sequential.firstIndex(of: $0.element)! <= $0.offset + 20 },
                              "an example leaves the buffer within 20 arrivals")
            }
        }
        XCTAssertNotEqual(samplers[0].shards(epoch: 0) + samplers[0].shards(epoch: 1) + samplers[0].shards(epoch: 2),
                          samplers[0].shards(epoch: 3) + samplers[0].shards(epoch: 4) + samplers[0].shards(epoch: 5),
                          "shards are dealt anew each epoch")
    }

    /// The round trip: with a buffer of 1, rank r's batches from the shards are the image folder's
    /// assembler's batches of the same examples (the packed order mapped back to the listing), pixel
    /// for pixel; and a loader started mid-epoch gives the uninterrupted one's batches.
    func testBatchesEqualTheFoldersInTheSameOrderAndResumeExactly() throws {
        let (listing, folder, _) = try packed(shardBytes: 300_000)
        var settings = ImageFolderPipeline.Settings(imageSize: 32)
        settings.scale = 0.35...1
        settings.workers = 2
        let packedOrder = ShardPacker.trainingOrder(count: listing.train.count, seed: 3)
        let shards = try ShardPipeline(folder: folder, settings: settings, shuffleBuffer: 1)
        let files = ImageFolderPipeline.assembler(listing.train, settings: settings, isTraining: true, seed: 7)
        let size = 32 * 32 * 3
        for rank in 0..<2 {
            let sampler = shards.trainingSampler(rank: rank, worldSize: 2, seed: 7)
            let loader = shards.trainingLoader(rank: rank, worldSize: 2, seed: 7, batchSize: 10, endEpoch: 2)
            XCTAssertGreaterThan(loader.batchesPerEpoch, 3)
            while let batch = loader.next() {
                XCTAssertNil(batch.failure)
                let order = sampler.indices(epoch: batch.epoch)
                let examples = order[(batch.step * 10) ..< (batch.step * 10 + 10)].map { packedOrder[$0] }
                var images = [Float](repeating: .nan, count: 10 * size)
                var labels = [Int32](repeating: -1, count: 10)
                let report = examples.withUnsafeBufferPointer { indices in
                    images.withUnsafeMutableBufferPointer { i in labels.withUnsafeMutableBufferPointer { l in
                        files.assemble(indices: indices, epoch: batch.epoch, step: batch.step, rank: rank, images: i, labels: l)
                    } }
                }
                XCTAssertEqual(report, .clean)
                XCTAssertEqual(Array(batch.labels), labels, "rank \(rank) epoch \(batch.epoch) step \(batch.step)")
                XCTAssertTrue(Array(batch.images) == images, "rank \(rank) epoch \(batch.epoch) step \(batch.step): pixels differ")
            }
        }

        // Exact resume with a real buffer: a loader started at (epoch 1, step 2) sees the same batches.
        let buffered = try ShardPipeline(folder: folder, settings: settings, shuffleBuffer: 40)
        func batches(startEpoch: Int, startStep: Int) -> [[Float]] {
            let loader = buffered.trainingLoader(rank: 1, worldSize: 2, seed: 7, batchSize: 10, startEpoch: startEpoch,
                                                 startStep: startStep, endEpoch: 2)
            var out: [[Float]] = []
            while let batch = loader.next() { out.append(Array(batch.images) + batch.labels.map(Float.init)) }
            return out
        }
        let straight = batches(startEpoch: 0, startStep: 0)
        let perEpoch = straight.count / 2
        XCTAssertEqual(batches(startEpoch: 1, startStep: 2), Array(straight[(perEpoch + 2)...]))
    }

    /// Evaluation reads the val shards in order, every example once across ranks (padding last).
    func testEvaluationSeesEveryValExampleOnce() throws {
        let (listing, folder, _) = try packed()
        let settings = ImageFolderPipeline.Settings(imageSize: 32)
        let shards = try ShardPipeline(folder: folder, settings: settings, shuffleBuffer: 1)
        let folderData = try ImageFolderPipeline(root: listing.root, settings: settings)
        for rank in 0..<3 {
            let a = shards.evaluationLoader(rank: rank, worldSize: 3, batchSize: 8)
            let b = folderData.evaluationLoader(rank: rank, worldSize: 3, batchSize: 8)
            while let x = a.next() {
                let y = try XCTUnwrap(b.next())
                XCTAssertNil(x.failure)
                XCTAssertEqual(x.realCount, y.realCount)
                XCTAssertEqual(Array(x.labels), Array(y.labels))
                XCTAssertTrue(Array(x.images) == Array(y.images), "val is packed as listed: the same pixels")
            }
            XCTAssertNil(b.next())
        }
    }

    /// An image that fails to decode: with `skip` it is replaced by another of its class in the same
    /// batch and counted; with `error` the batch names the shard and the member.
    func testBadImagesInShardsAreReplacedWithinTheBatchOrReported() throws {
        let source = try ImageFolderFixture.folder(size: 32, trainPerClass: 2, valPerClass: 1, corrupt: true)
        let root = scratch + "/photos"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source + "/train", toPath: root + "/train")
        try FileManager.default.copyItem(atPath: source + "/bad/airplane/truncated.jpg", toPath: root + "/train/airplane/zz.jpg")
        let folder = scratch + "/bad-shards"
        _ = try ShardPacker.pack(ImageFolderListing(root: root), into: folder, shardBytes: 1 << 20, seed: 0)
        var settings = ImageFolderPipeline.Settings(imageSize: 32)
        for policy in [BadImagePolicy.skip, .error] {
            settings.onBadImage = policy
            let loader = try ShardPipeline(folder: folder, settings: settings, shuffleBuffer: 1)
                .trainingLoader(rank: 0, worldSize: 1, seed: 0, batchSize: 21, endEpoch: 1)
            let batch = try XCTUnwrap(loader.next())
            if policy == .skip {
                XCTAssertEqual(batch.badImages, 1)
                XCTAssertNil(batch.failure)
            } else {
                let failure = try XCTUnwrap(batch.failure)
                XCTAssertTrue(failure.hasPrefix(folder + "/train-000000.tar:") && failure.contains(".jpg: JPEG: Premature end"), failure)
            }
        }
    }

    /// Damaged or hostile shards stop with one line naming the shard and the byte offset: a
    /// truncated shard, a member whose size runs past the file, an 8 GiB declared size, a bad
    /// checksum, a class index outside the classes; a shard whose size differs from the index is
    /// refused before training.
    func testHostileShardsAreRefusedInOneLine() throws {
        let (_, folder, index) = try packed()
        let val = folder + "/" + index.val!.shards[0].file
        let original = try XCTUnwrap(FileManager.default.contents(atPath: val).map(Array.init))
        let settings = ImageFolderPipeline.Settings(imageSize: 32)

        func failure(_ bytes: [UInt8], indexBytes: Int? = nil) throws -> String? {
            try Data(bytes).write(to: URL(fileURLWithPath: val))
            var changed = index
            changed.val!.shards[0].bytes = indexBytes ?? bytes.count
            try JSONEncoder().encode(changed).write(to: URL(fileURLWithPath: folder + "/index.json"))
            let loader = try ShardPipeline(folder: folder, settings: settings, shuffleBuffer: 1).evaluationLoader(rank: 0, worldSize: 1, batchSize: 50)
            return loader.next()?.failure
        }
        func header(_ bytes: [UInt8], at offset: Int, size: String? = nil, name: String? = nil) -> [UInt8] {
            var bytes = bytes
            if let size { bytes.replaceSubrange(offset + 124 ..< offset + 135, with: Array(size.utf8)) }
            if let name { bytes.replaceSubrange(offset ..< offset + name.utf8.count, with: Array(name.utf8)) }
            let sum = bytes[offset ..< offset + 512].enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 32 : Int($1.element)) }
            let text = String(sum, radix: 8)
            bytes.replaceSubrange(offset + 148 ..< offset + 154, with: Array((String(repeating: "0", count: 6 - text.count) + text).utf8))
            return bytes
        }
        XCTAssertNil(try failure(original), "the shard as packed reads")
        let firstSize = Int(String(decoding: original[124..<135], as: UTF8.self), radix: 8)!
        let secondHeader = 512 + (firstSize + 511) / 512 * 512
        var headers = [0]
        while headers.last! + 512 < original.count - 1024 {
            let at = headers.last!
            headers.append(at + 512 + (Int(String(decoding: original[at + 124 ..< at + 135], as: UTF8.self), radix: 8)! + 511) / 512 * 512)
        }
        let lastImageHeader = headers[headers.count - 3]  // then its .cls, then the end blocks
        let cases: [(String, [UInt8], String)] = [
            ("truncated", Array(original.prefix(original.count - 3000)), "beyond the file's end"),
            ("truncated at a header", Array(original.prefix(lastImageHeader + 100)), "ends at byte \(lastImageHeader + 100), before the header at byte \(lastImageHeader)"),
            ("size beyond the file", header(original, at: 0, size: String(original.count, radix: 8).leftPadded(11)), "beyond the file's end"),
            ("huge declared size", header(original, at: 0, size: "77777777777"), "declares 8589934591 bytes"),
            ("bad checksum", { var b = original; b[10] ^= 1; return b }(), "damaged tar header at byte 0"),
            ("label out of range", { var b = original; b[secondHeader + 512] = UInt8(ascii: "9"); b[secondHeader + 512 + 1] = UInt8(ascii: "9")
                                      return header(b, at: secondHeader, size: "2".leftPadded(11)) }(), "not a class index in [0, 10)"),
            ("wrong pairing", header(original, at: secondHeader, name: "zzzzzz"), "should be"),
        ]
        for (what, bytes, expected) in cases {
            let message = try XCTUnwrap(try failure(bytes), what)
            XCTAssertTrue(message.contains(val) && message.contains(expected), "\(what): \(message)")
            XCTAssertFalse(message.contains("\n"), what)
        }
        // The index and the file disagree: refused before any reading.
        XCTAssertThrowsError(try failure(original, indexBytes: original.count + 512)) { error in
            XCTAssertTrue("\(error)".contains("index.json says"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: folder + "/" + index.train.shards[1].file)
        XCTAssertThrowsError(try ShardIndex(folder: folder)) { error in
            XCTAssertTrue("\(error)".contains(index.train.shards[1].file) && "\(error)".contains("missing"), "\(error)")
        }
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
