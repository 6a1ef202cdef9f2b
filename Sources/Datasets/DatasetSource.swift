import Foundation

/// Where a dataset lives and how to read it: a format, a root folder, and the reading options.
///
/// Made from a dataset name or a path with ``resolve(_:dataDirectory:coarseLabels:)``, or from a
/// known dataset and an optional root with ``init(_:root:dataDirectory:coarseLabels:)`` (the default
/// folders are listed at ``DatasetName``). DATA there is ``defaultDataDirectory()``
/// (`$MULTIMIX_DATA_DIR`, else `.cache/data`, filled by `launch/setup.sh`). Any other argument to
/// `resolve` is a path whose format is sniffed from the files in it.
public struct DatasetSource: Equatable, Sendable {
    /// The file format.
    public let format: DatasetFormat
    /// The folder holding the files.
    public let root: String
    /// CIFAR-100 only: use the 20 coarse labels instead of the 100 fine ones.
    public let coarseLabels: Bool
    /// IDX only: the class names (their count bounds the labels).
    public let classNames: [String]

    /// A source in `format` at `root`. For IDX data, `classNames` defaults to the ten digits, or
    /// Fashion-MNIST's names when the root's path mentions "fashion".
    public init(format: DatasetFormat, root: String, coarseLabels: Bool = false, classNames: [String]? = nil) {
        self.format = format
        self.root = root
        self.coarseLabels = coarseLabels
        self.classNames = classNames ?? (root.lowercased().contains("fashion")
            ? IDXReader.fashionMNISTClassNames : IDXReader.digitClassNames)
    }

    /// The dataset names that resolve to default folders, with their formats.
    public static let knownNames: [(name: String, format: DatasetFormat)] = DatasetName.allCases.map { ($0.rawValue, $0.format) }

    /// The data directory relative to the working folder, where `launch/setup.sh` unpacks data by default.
    public static let relativeDataDirectory = ".cache/data"

    /// Known dataset `name` in `root` if given (a config's `data.root`), else in its default folder
    /// (see ``DatasetName/defaultRoot(dataDirectory:)``; DATA is `dataDirectory` or ``defaultDataDirectory()``).
    public init(_ name: DatasetName, root: String? = nil, dataDirectory: String? = nil, coarseLabels: Bool = false) {
        self.init(format: name.format,
                  root: root ?? name.defaultRoot(dataDirectory: dataDirectory ?? Self.defaultDataDirectory()),
                  coarseLabels: name == .cifar100 && coarseLabels, classNames: name.classNames)
    }

    /// Where `launch/setup.sh` unpacks data: `$MULTIMIX_DATA_DIR` if set, else the first `.cache/data`
    /// found in the current folder or above the running executable, else `.cache/data`.
    public static func defaultDataDirectory() -> String {
        if let fromEnvironment = ProcessInfo.processInfo.environment["MULTIMIX_DATA_DIR"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        let relative = relativeDataDirectory
        if FileManager.default.fileExists(atPath: relative) { return relative }
        var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        while folder.path != "/" && !folder.path.isEmpty {
            let candidate = folder.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            folder.deleteLastPathComponent()
        }
        return relative
    }

    /// The source for a known dataset name or a path (a folder, or a file inside one).
    public static func resolve(_ nameOrPath: String, dataDirectory: String? = nil,
                               coarseLabels: Bool = false) throws -> DatasetSource {
        if let source = named(nameOrPath, dataDirectory: dataDirectory, coarseLabels: coarseLabels) { return source }
        var root = nameOrPath
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: root, isDirectory: &isFolder), !isFolder.boolValue {
            root = (root as NSString).deletingLastPathComponent
            if root.isEmpty { root = "." }
        }
        return DatasetSource(format: try sniff(root), root: root, coarseLabels: coarseLabels)
    }

    /// The source for a known dataset `name` (see ``DatasetName/init(lenient:)``), in `root` if
    /// given, else in its default folder; nil for an unknown name.
    public static func named(_ name: String, root: String? = nil, dataDirectory: String? = nil,
                             coarseLabels: Bool = false) -> DatasetSource? {
        DatasetName(lenient: name).map { DatasetSource($0, root: root, dataDirectory: dataDirectory, coarseLabels: coarseLabels) }
    }

    /// The format of the files in `folder`.
    public static func sniff(_ folder: String) throws -> DatasetFormat {
        try DatasetFolder.requireFolder(folder)
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        if names.contains("data_batch_1.bin") || names.contains("test_batch.bin") { return .cifar10 }
        if names.contains("train.bin") || names.contains("test.bin") { return .cifar100 }
        if names.contains(where: { $0.contains("idx3-ubyte") }) { return .idx }
        throw DatasetError(.unrecognised, path: folder,
                           problem: "no dataset files found (looked for CIFAR-10 data_batch_1.bin/test_batch.bin, CIFAR-100 train.bin/test.bin, IDX *-images-idx3-ubyte[.gz])",
                           fix: "name a folder holding one of these, or one of: \(knownNames.map(\.name).joined(separator: ", "))")
    }

    /// The splits whose files are all present.
    public var availableSplits: [DatasetSplit] {
        DatasetSplit.allCases.filter { split in
            switch format {
            case .idx: return idxReader.hasSplit(split)
            case .cifar10, .cifar100: return cifarReader.hasSplit(split)
            case .imageFolder, .shards: return false   // read by ImageFolderPipeline or ShardPipeline, never into memory
            }
        }
    }

    /// Reads and checks `split`.
    public func load(_ split: DatasetSplit) throws -> ImageDataset {
        switch format {
        case .idx: return try idxReader.load(split)
        case .cifar10, .cifar100: return try cifarReader.load(split)
        case .imageFolder, .shards:
            throw DatasetError(.unrecognised, path: root, problem: "\(format.displayName) are read image by image, not loaded whole",
                               fix: "use data.dataset: \(format.rawValue)")
        }
    }

    /// The IDX reader for this source.
    var idxReader: IDXReader { IDXReader(root: root, classNames: classNames) }
    /// The CIFAR reader for this source.
    var cifarReader: CIFARReader {
        CIFARReader(root: root, variant: format == .cifar10 ? .cifar10 : .cifar100(coarse: coarseLabels))
    }
}
