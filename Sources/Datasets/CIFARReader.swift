import Foundation

/// Reads CIFAR-10 and CIFAR-100 in their official binary versions.
///
///     CIFAR-10  cifar-10-batches-bin/   data_batch_1..5.bin (train), test_batch.bin, batches.meta.txt
///               record = 1 label byte (0-9), then 3072 pixel bytes              (3073 bytes)
///     CIFAR-100 cifar-100-binary/       train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt
///               record = 1 coarse byte (0-19), 1 fine byte (0-99), 3072 pixels  (3074 bytes)
///
/// Pixels in a record are planar: 1024 red, 1024 green, 1024 blue, each 32x32 row-major. They are
/// turned channel-last (HWC) here, once, so batches come out NHWC.
public struct CIFARReader: Sendable {
    /// Which CIFAR, and for CIFAR-100 which labels.
    public enum Variant: Equatable, Sendable {
        /// CIFAR-10: 10 classes.
        case cifar10
        /// CIFAR-100 with its 100 fine labels (`coarse` false) or 20 coarse labels (`coarse` true).
        case cifar100(coarse: Bool)
    }

    /// The folder holding the files.
    public let root: String
    /// Which CIFAR.
    public let variant: Variant

    /// A reader for `variant` in the folder `root`.
    public init(root: String, variant: Variant) {
        self.root = root
        self.variant = variant
    }

    /// Image shape of every CIFAR image.
    public static let shape = ImageShape(height: 32, width: 32, channels: 3)
    /// CIFAR-10's class names (used when `batches.meta.txt` is absent).
    public static let cifar10ClassNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]

    /// Bytes before the pixels in a record: 1 (CIFAR-10) or 2 (CIFAR-100).
    var labelBytes: Int { variant == .cifar10 ? 1 : 2 }
    /// Bytes in a record.
    var recordSize: Int { labelBytes + CIFARReader.shape.elementCount }
    /// Which label byte of a record is the label used.
    var labelByteIndex: Int { variant == .cifar100(coarse: false) ? 1 : 0 }
    /// Number of classes.
    var classCount: Int {
        switch variant {
        case .cifar10: return 10
        case .cifar100(let coarse): return coarse ? 20 : 100
        }
    }
    /// A short name for messages.
    var datasetName: String { variant == .cifar10 ? "CIFAR-10" : "CIFAR-100" }

    /// The files of `split`, in order.
    public func fileNames(of split: DatasetSplit) -> [String] {
        switch (variant, split) {
        case (.cifar10, .train): return (1...5).map { "data_batch_\($0).bin" }
        case (.cifar10, .test): return ["test_batch.bin"]
        case (.cifar100, .train): return ["train.bin"]
        case (.cifar100, .test): return ["test.bin"]
        }
    }

    /// Whether every file of `split` exists.
    public func hasSplit(_ split: DatasetSplit) -> Bool {
        fileNames(of: split).allSatisfy { FileManager.default.fileExists(atPath: path(of: $0)) }
    }

    /// The full path of file `name` in the root folder.
    func path(of name: String) -> String { (root as NSString).appendingPathComponent(name) }

    /// Class names from the label-name file, or CIFAR-10's built-in names, or `class k`.
    public func classNames() throws -> [String] {
        let file: String
        switch variant {
        case .cifar10: file = "batches.meta.txt"
        case .cifar100(let coarse): file = coarse ? "coarse_label_names.txt" : "fine_label_names.txt"
        }
        guard let names = try DatasetFolder.lines(path(of: file)) else {
            return variant == .cifar10 ? CIFARReader.cifar10ClassNames : (0..<classCount).map { "class \($0)" }
        }
        guard names.count == classCount else {
            throw DatasetError(.inconsistent, path: path(of: file),
                               problem: "\(names.count) class names, \(datasetName) has \(classCount)",
                               fix: DatasetError.refetchAdvice)
        }
        return names
    }

    /// Reads and checks every file of `split`.
    public func load(_ split: DatasetSplit) throws -> ImageDataset {
        try DatasetFolder.requireFolder(root)
        var pixels = [UInt8]()
        var labels = [Int32]()
        for name in fileNames(of: split) {
            try append(file: path(of: name), pixels: &pixels, labels: &labels)
        }
        return ImageDataset(shape: CIFARReader.shape, pixels: pixels, labels: labels, classNames: try classNames())
    }

    /// Checks one record file and appends its images (as HWC) and labels.
    func append(file: String, pixels: inout [UInt8], labels: inout [Int32]) throws {
        let bytes = try FileBytes.read(file)
        let recordSize = self.recordSize
        guard bytes.count % recordSize == 0 else {
            let lastRecord = bytes.count / recordSize
            throw DatasetError(.truncated, path: file,
                               problem: "\(bytes.count) bytes is not a whole number of \(recordSize)-byte \(datasetName) records (record \(lastRecord) at byte \(lastRecord * recordSize) has \(bytes.count % recordSize) bytes)",
                               fix: DatasetError.refetchAdvice)
        }
        let count = bytes.count / recordSize
        let labelLimits = variant == .cifar10 ? [10] : [20, 100]  // per label byte: coarse, fine
        for record in 0..<count {
            for (byteIndex, limit) in labelLimits.enumerated() {
                let offset = record * recordSize + byteIndex
                guard Int(bytes[offset]) < limit else {
                    let which = variant == .cifar10 ? "label" : (byteIndex == 0 ? "coarse label" : "fine label")
                    throw DatasetError(.labelOutOfRange, path: file,
                                       problem: "\(which) \(bytes[offset]) of record \(record) (byte offset \(offset)) is outside 0...\(limit - 1)",
                                       fix: "the file is damaged or is not \(datasetName); " + DatasetError.refetchAdvice)
                }
            }
            labels.append(Int32(bytes[record * recordSize + labelByteIndex]))
        }
        let imageSize = CIFARReader.shape.elementCount
        let plane = CIFARReader.shape.height * CIFARReader.shape.width
        let start = pixels.count
        pixels.append(contentsOf: repeatElement(0, count: count * imageSize))
        let labelBytes = self.labelBytes
        pixels.withUnsafeMutableBufferPointer { destination in
            bytes.withUnsafeBufferPointer { source in
                for record in 0..<count {
                    let from = source.baseAddress! + record * recordSize + labelBytes  // CHW
                    let to = destination.baseAddress! + start + record * imageSize      // HWC
                    for position in 0..<plane {
                        to[3 * position] = from[position]
                        to[3 * position + 1] = from[plane + position]
                        to[3 * position + 2] = from[2 * plane + position]
                    }
                }
            }
        }
    }
}
