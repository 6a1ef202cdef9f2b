import Foundation

/// Reads one tar shard front to back, example by example: an image member (`KEY.jpg`, `KEY.jpeg` or
/// `KEY.png`) followed by `KEY.cls`, the class index in decimal. Everything is bounded before it is
/// trusted: each header's checksum, type and size, each member within the file, the class within the
/// index's classes; a failure is one ``DatasetError`` naming the shard, the byte offset and the member.
final class ShardReader {
    /// The shard's path.
    let path: String
    /// Examples still to read (from the index).
    private(set) var remaining: Int
    private let descriptor: Int32
    private let fileSize: Int
    private let classCount: Int
    private var offset = 0
    private var header = [UInt8](repeating: 0, count: TarHeader.blockSize)

    /// An image member larger than this is refused (no image of a training set comes near it).
    static let maxImageBytes = 256 << 20

    init(path: String, examples: Int, classCount: Int) throws(DatasetError) {
        self.path = path
        remaining = examples
        self.classCount = classCount
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw DatasetError(.unreadable, path: path, problem: "cannot open (\(String(cString: strerror(errno))))", fix: "check the shard folder")
        }
        var info = stat()
        fstat(descriptor, &info)
        fileSize = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// The next example: its image bytes (nil when `keep` is false: the data is skipped, not read),
    /// its label and its member name; nil after the index's count of examples.
    func next(keep: Bool) throws(DatasetError) -> (image: [UInt8]?, label: Int32, name: String)? {
        guard remaining > 0 else { return nil }
        let (image, imageAt) = try member()
        let key = image.name.split(separator: ".", omittingEmptySubsequences: false).dropLast().joined(separator: ".")
        let suffix = image.name.lowercased().split(separator: ".").last.map(String.init) ?? ""
        guard !key.isEmpty, ["jpg", "jpeg", "png"].contains(suffix), image.size <= Self.maxImageBytes else {
            throw refuse("member \(PathTable.display(image.name.utf8)) at byte \(imageAt - 512) (\(image.size) bytes) is not KEY.jpg, KEY.jpeg or KEY.png of at most \(Self.maxImageBytes) bytes")
        }
        let bytes = keep ? try read(image.size, at: imageAt) : nil
        let (label, labelAt) = try member()
        guard label.name == key + ".cls", (1...20).contains(label.size) else {
            throw refuse("member \(PathTable.display(label.name.utf8)) at byte \(labelAt - 512) should be \(PathTable.display(key.utf8)).cls holding the class index")
        }
        let text = String(decoding: try read(label.size, at: labelAt), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = Int(text), (0..<classCount).contains(value) else {
            throw refuse("\(PathTable.display(label.name.utf8)) holds \"\(PathTable.display(text.utf8.prefix(20)))\", not a class index in [0, \(classCount))")
        }
        remaining -= 1
        return (bytes, Int32(value), image.name)
    }

    /// The next member's header and where its data starts; moves past its data.
    private func member() throws(DatasetError) -> (TarHeader, Int) {
        let at = offset
        guard at + TarHeader.blockSize <= fileSize else {
            throw DatasetError(.truncated, path: path, problem: "ends at byte \(fileSize), before the header at byte \(at) (\(remaining) examples still to come)",
                               fix: "copy the shard again, or pack the folder again")
        }
        let got = header.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, TarHeader.blockSize, off_t(at)) }
        guard got == TarHeader.blockSize else { throw refuse("cannot read the header at byte \(at) (\(String(cString: strerror(errno))))") }
        guard let parsed = TarHeader(header), parsed.checksumMatches else { throw refuse("damaged tar header at byte \(at) (bad size field or checksum)") }
        guard parsed.isRegularFile else { throw refuse("member \(PathTable.display(parsed.name.utf8)) at byte \(at) is not a regular file (type \(parsed.type))") }
        let dataAt = at + TarHeader.blockSize
        guard parsed.size <= fileSize - dataAt else {
            throw DatasetError(.truncated, path: path, problem: "member \(PathTable.display(parsed.name.utf8)) at byte \(at) declares \(parsed.size) bytes, beyond the file's end (\(fileSize) bytes)",
                               fix: "copy the shard again, or pack the folder again")
        }
        offset = dataAt + parsed.paddedSize
        return (parsed, dataAt)
    }

    private func read(_ count: Int, at position: Int) throws(DatasetError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(position + done)) }
            guard got > 0 else { throw refuse("cannot read \(count) bytes at byte \(position) (\(got < 0 ? String(cString: strerror(errno)) : "end of file"))") }
            done += got
        }
        return bytes
    }

    private func refuse(_ problem: String) -> DatasetError {
        DatasetError(.badHeader, path: path, problem: problem, fix: "copy the shard again, or pack the folder again with `multimix data pack`")
    }
}
