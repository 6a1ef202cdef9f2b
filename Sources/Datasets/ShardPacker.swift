import Checksums
import Crypto
import Foundation
import SafeFiles
import Tensors

/// Packs an image folder into WebDataset-style tar shards (`multimix data pack`): per split, the
/// examples in order (the training split in a seeded permutation of the listing, so every shard
/// mixes the classes; `val/` as listed), each as `KEY.EXT` (the file's bytes, unchanged) and
/// `KEY.cls` (the class index), KEY the zero-padded position in the split; a new shard
/// (`train-000001.tar`, …) when the next example would take the current one past `shardBytes`, or
/// when it has its share of the split's bytes (shards as equal as the limit allows).
/// Shards are written under temporary names and renamed when complete; `index.json` comes last.
public enum ShardPacker {
    /// The listing positions of the training split in the order they are packed.
    public static func trainingOrder(count: Int, seed: UInt64) -> [Int] {
        var stream = RandomStream(seed: seed, purpose: .shardPacking)
        return stream.permutation(count: count)
    }

    /// Packs `listing` into the folder `into` (absent or empty; a symlink or a folder holding anything
    /// is refused), shards of at most `shardBytes` (a larger single example gets a shard of its own).
    /// `progress(split, examplesDone, examplesTotal)` is called after each shard.
    public static func pack(_ listing: ImageFolderListing, into folder: String, shardBytes: Int, seed: UInt64,
                            progress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> ShardIndex {
        precondition(shardBytes >= 1, "shard size \(shardBytes)")
        try prepare(folder)
        let order = trainingOrder(count: listing.train.count, seed: seed)
        let train = try pack(listing.train, order: order, split: "train", into: folder, shardBytes: shardBytes, progress: progress)
        let val = try listing.validation.map {
            try pack($0, order: Array(0..<$0.count), split: "val", into: folder, shardBytes: shardBytes, progress: progress)
        }
        let index = ShardIndex(classNames: listing.classNames, seed: seed, train: train, val: val)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let path = (folder as NSString).appendingPathComponent(ShardIndex.fileName)
        let temporary = (folder as NSString).appendingPathComponent(".\(ShardIndex.fileName).partial")
        let writer = try ShardFileWriter(path: temporary)
        try writer.write(Array(try encoder.encode(index)) + [0x0A])
        _ = try writer.finish(renamingTo: path)
        return index
    }

    /// Refuses a symlink, a file, or a folder that holds anything; creates the folder if absent.
    private static func prepare(_ folder: String) throws {
        var info = stat()
        if lstat(folder, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw DatasetError(.unrecognised, path: folder, problem: info.st_mode & S_IFMT == S_IFLNK ? "is a symbolic link" : "is not a folder",
                                   fix: "give --into a new or empty folder (not a link)")
            }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            guard entries.isEmpty else {
                throw DatasetError(.unrecognised, path: folder, problem: "holds \(entries.count) file\(entries.count == 1 ? "" : "s") (\(PathTable.display(entries.sorted()[0].utf8)), …)",
                                   fix: "give --into a new or empty folder; packing never writes beside other files")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw DatasetError(.unreadable, path: folder, problem: "cannot create the folder (\(error.localizedDescription))", fix: "check the path and its permissions")
            }
        }
    }

    private static func pack(_ files: ImageFileList, order: [Int], split: String, into folder: String, shardBytes: Int,
                             progress: (String, Int, Int) -> Void) throws -> ShardIndex.Split {
        let reader = ImageDecoder(maxPixels: Int(Int32.max))
        let width = max(6, String(order.count).count)
        var shards: [ShardIndex.Shard] = []
        var classCounts = [Int](repeating: 0, count: files.classCount)
        // Balance: as many shards as the limit needs, each cut near an equal share of the bytes (from
        // the files' sizes), so that no shard is much smaller than the rest (every rank's steps are
        // bounded by its smallest shards).
        let entryBytes = order.map { index -> Int in
            var info = stat()
            let size = files.withPath(of: index) { stat($0, &info) } == 0 ? Int(info.st_size) : 0
            return 3 * TarHeader.blockSize + (size + 511) / 512 * 512
        }
        let totalBytes = entryBytes.reduce(0, +)
        let room = max(1, shardBytes - 2 * TarHeader.blockSize - (entryBytes.max() ?? 0))  // a cut lands within one example
        let shardCount = max(1, (totalBytes + room - 1) / room)
        var cumulative = 0
        var writer: ShardFileWriter?
        var examples = 0
        func close() throws {
            guard let current = writer else { return }
            try current.write([UInt8](repeating: 0, count: 2 * TarHeader.blockSize))
            let name = ShardIndex.shardName(split: split, number: shards.count)
            let (bytes, sha256) = try current.finish(renamingTo: (folder as NSString).appendingPathComponent(name))
            shards.append(.init(file: name, examples: examples, bytes: bytes, sha256: sha256))
            progress(split, shards.reduce(0) { $0 + $1.examples }, order.count)
            writer = nil
            examples = 0
        }
        for (position, index) in order.enumerated() {
            do {
                try reader.read(files, example: index)
            } catch {
                throw DatasetError(.unreadable, path: files.displayPath(of: index), problem: error.reason, fix: "replace or remove the file, then pack again")
            }
            let image = Array(reader.file[0..<reader.fileSize])
            let label = files.labels[index]
            let digits = String(position)
            let key = String(repeating: "0", count: width - digits.count) + digits
            let name = "\(key).\(imageExtension(files.paths.bytes(at: Int(files.pathIndices[index]))))"
            let cls = Array("\(label)".utf8)
            let size = TarHeader.ustar(name: name, size: image.count).count + (image.count + 511) / 512 * 512 + 2 * TarHeader.blockSize
            let share = totalBytes * (shards.count + 1) / shardCount
            if let current = writer, current.size + size + 2 * TarHeader.blockSize > shardBytes
                || (cumulative >= share && shards.count + 1 < shardCount) {
                try close()
            }
            cumulative += entryBytes[position]
            if writer == nil {
                writer = try ShardFileWriter(path: (folder as NSString).appendingPathComponent(".\(ShardIndex.shardName(split: split, number: shards.count)).partial"))
            }
            try writer!.member(name: name, bytes: image)
            try writer!.member(name: "\(key).cls", bytes: cls)
            examples += 1
            classCounts[Int(label)] += 1
        }
        try close()
        return ShardIndex.Split(shards: shards, classCounts: classCounts)
    }

    /// `jpg`, `jpeg` or `png` from a listed path (the listing admits only these, in any case).
    private static func imageExtension(_ path: ArraySlice<UInt8>) -> String {
        let suffix = String(decoding: path.reversed().prefix { $0 != UInt8(ascii: ".") }.reversed(), as: UTF8.self).lowercased()
        return ImageFolderListing.imageExtensions.contains(suffix) ? suffix : "jpg"
    }
}

/// A file written sequentially and hashed as it goes; renamed into place (after fsync) when finished.
final class ShardFileWriter {
    let path: String
    private let file: UnsafeMutablePointer<FILE>
    private var hash = SHA256()
    private(set) var size = 0

    init(path: String) throws {
        guard let file = fopen(path, "wb") else {
            throw DatasetError(.unreadable, path: path, problem: "cannot create (\(String(cString: strerror(errno))))", fix: "check that the folder is writable")
        }
        self.path = path
        self.file = file
    }

    deinit { fclose(file) }

    func write(_ bytes: [UInt8]) throws {
        hash.update(data: bytes)
        size += bytes.count
        guard bytes.isEmpty || fwrite(bytes, 1, bytes.count, file) == bytes.count else {
            throw DatasetError(.unreadable, path: path, problem: "cannot write (\(String(cString: strerror(errno))))", fix: "check the disk's free space")
        }
    }

    /// A ustar member: header, data, zero padding to the block.
    func member(name: String, bytes: [UInt8]) throws {
        try write(TarHeader.ustar(name: name, size: bytes.count))
        try write(bytes)
        let padding = (TarHeader.blockSize - bytes.count % TarHeader.blockSize) % TarHeader.blockSize
        try write([UInt8](repeating: 0, count: padding))
    }

    /// Flushes, fsyncs and renames the file to `destination`; its size and SHA-256 (hex).
    func finish(renamingTo destination: String) throws -> (bytes: Int, sha256: String) {
        guard fflush(file) == 0, fsync(fileno(file)) == 0, rename(path, destination) == 0 else {
            throw DatasetError(.unreadable, path: destination, problem: "cannot write (\(String(cString: strerror(errno))))", fix: "check the disk's free space")
        }
        return (size, hash.finalize().hex)
    }
}
