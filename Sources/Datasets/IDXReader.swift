import Foundation

/// Reads MNIST-style datasets: a folder with IDX image and label files per split, plain or gzipped.
///
///     train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]    (also train-images.idx3-ubyte)
///     t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]
///
/// Images are `count x rows x columns` grey bytes (one channel); labels are bytes in 0..<classes.
public struct IDXReader: Sendable {
    /// The folder holding the files.
    public let root: String
    /// Names of the classes, indexed by label; labels must be below their count.
    public let classNames: [String]

    /// A reader for the folder `root` with the given class names.
    public init(root: String, classNames: [String]) {
        self.root = root
        self.classNames = classNames
    }

    /// Fashion-MNIST's ten classes.
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    /// The ten digits, for MNIST and alike.
    public static let digitClassNames = (0..<10).map(String.init)

    /// The file prefix of a split: `train` or `t10k`.
    static func prefix(of split: DatasetSplit) -> String { split == .train ? "train" : "t10k" }

    /// The path of the images (`kind` "images", rank 3) or labels ("labels", rank 1) file of `split`,
    /// whichever spelling exists; nil if none does.
    func path(of kind: String, rank: Int, split: DatasetSplit) -> String? {
        let stem = IDXReader.prefix(of: split)
        let names = ["\(stem)-\(kind)-idx\(rank)-ubyte", "\(stem)-\(kind).idx\(rank)-ubyte"]
        for name in names {
            for suffix in [".gz", ""] {
                let path = (root as NSString).appendingPathComponent(name + suffix)
                if FileManager.default.fileExists(atPath: path) { return path }
            }
        }
        return nil
    }

    /// Whether both files of `split` exist.
    public func hasSplit(_ split: DatasetSplit) -> Bool {
        path(of: "images", rank: 3, split: split) != nil && path(of: "labels", rank: 1, split: split) != nil
    }

    /// Reads and checks `split`.
    public func load(_ split: DatasetSplit) throws -> ImageDataset {
        try DatasetFolder.requireFolder(root)
        let stem = IDXReader.prefix(of: split)
        guard let imagesPath = path(of: "images", rank: 3, split: split) else {
            throw DatasetError(.missing, path: (root as NSString).appendingPathComponent("\(stem)-images-idx3-ubyte.gz"),
                               problem: "the \(split) images file does not exist (nor without .gz)",
                               fix: DatasetError.refetchAdvice)
        }
        guard let labelsPath = path(of: "labels", rank: 1, split: split) else {
            throw DatasetError(.missing, path: (root as NSString).appendingPathComponent("\(stem)-labels-idx1-ubyte.gz"),
                               problem: "the \(split) labels file does not exist (nor without .gz)",
                               fix: DatasetError.refetchAdvice)
        }
        let images = try IDXFile(path: imagesPath, expectedRank: 3, role: "images")
        let labelFile = try IDXFile(path: labelsPath, expectedRank: 1, role: "labels")
        guard images.dimensions[0] == labelFile.dimensions[0] else {
            throw DatasetError(.inconsistent, path: labelsPath,
                               problem: "\(labelFile.dimensions[0]) labels for \(images.dimensions[0]) images in \(imagesPath)",
                               fix: "use image and label files of the same split and release")
        }
        let labels = try labelFile.payload.enumerated().map { record, byte -> Int32 in
            guard Int(byte) < classNames.count else {
                throw DatasetError(.labelOutOfRange, path: labelsPath,
                                   problem: "label \(byte) of record \(record) (byte offset \(8 + record)) is outside 0...\(classNames.count - 1)",
                                   fix: "the file is damaged or holds a dataset with more than \(classNames.count) classes")
            }
            return Int32(byte)
        }
        let shape = ImageShape(height: images.dimensions[1], width: images.dimensions[2], channels: 1)
        return ImageDataset(shape: shape, pixels: images.payload, labels: labels, classNames: classNames)
    }
}
