import Foundation

/// `DIR/index.json` of a folder of tar shards (written by ``ShardPacker``): the class names, and per
/// split its shards in order (file, examples, bytes, SHA-256) and its examples per class. Training
/// plans every epoch from it alone, so a resumed run knows each step's examples without reading data.
public struct ShardIndex: Codable, Equatable, Sendable {
    /// One tar file.
    public struct Shard: Codable, Equatable, Sendable {
        /// File name inside the folder (`train-000000.tar`).
        public var file: String
        /// Examples it holds (each an image member and a `.cls` member).
        public var examples: Int
        /// Its size in bytes.
        public var bytes: Int
        /// SHA-256 of the file (hex), for `sha256sum`-style checks of a copy.
        public var sha256: String
    }

    /// The shards of one split.
    public struct Split: Codable, Equatable, Sendable {
        public var shards: [Shard]
        /// Examples per class, indexed by label.
        public var classCounts: [Int]
        /// Examples in all shards.
        public var count: Int { shards.reduce(0) { $0 + $1.examples } }
        enum CodingKeys: String, CodingKey { case shards, classCounts = "class_counts" }
    }

    /// The format's name and version, checked on reading.
    public var format = ShardIndex.formatName
    public var version = 1
    /// Class names, indexed by label (the image folder's class order).
    public var classNames: [String]
    /// The permutation seed the training split was packed with.
    public var seed: UInt64
    /// `train`, and `val` when the folder had one.
    public var train: Split
    public var val: Split?

    public static let formatName = "multimix-shards"
    /// The index's file name in the folder.
    public static let fileName = "index.json"
    /// Bounds checked on reading: any larger index, member or count is refused as hostile or damaged.
    public static let maxIndexBytes = 64 << 20
    public static let maxShards = 1_000_000
    public static let maxExamplesPerShard = 10_000_000
    public static let maxClasses = 100_000

    enum CodingKeys: String, CodingKey { case format, version, classNames = "class_names", seed, train, val }

    public init(classNames: [String], seed: UInt64, train: Split, val: Split?) {
        self.classNames = classNames
        self.seed = seed
        self.train = train
        self.val = val
    }

    /// Reads and checks `folder/index.json`: format, bounds, file names (`train-NNNNNN.tar`), and
    /// counts that agree; every shard file present with the size the index gives.
    public init(folder: String) throws {
        let path = (folder as NSString).appendingPathComponent(Self.fileName)
        func refuse(_ problem: String, _ kind: DatasetError.Kind = .badHeader) -> DatasetError {
            DatasetError(kind, path: path, problem: problem, fix: "pack the folder again with `multimix data pack IMAGE_FOLDER --into \(folder)`")
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw DatasetError(.missing, path: path, problem: "no shard index (not a folder of tar shards)",
                               fix: "pack an image folder with `multimix data pack IMAGE_FOLDER --into \(folder)`")
        }
        guard Int(info.st_size) <= Self.maxIndexBytes else { throw refuse("\(info.st_size) bytes, above the \(Self.maxIndexBytes) an index may have") }
        let index: ShardIndex
        do {
            index = try JSONDecoder().decode(ShardIndex.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw refuse("not a shard index (\(String(describing: error).prefix(200)))")
        }
        self = index
        guard format == Self.formatName, version == 1 else { throw refuse("format \(format) version \(version), not \(Self.formatName) version 1") }
        guard (1...Self.maxClasses).contains(classNames.count) else { throw refuse("\(classNames.count) classes") }
        for (name, split) in [("train", train)] + (val.map { [("val", $0)] } ?? []) {
            guard (1...Self.maxShards).contains(split.shards.count) else { throw refuse("\(name): \(split.shards.count) shards") }
            guard split.classCounts.count == classNames.count, split.classCounts.allSatisfy({ (0...Self.maxShards * Self.maxExamplesPerShard).contains($0) }) else {
                throw refuse("\(name): class_counts has \(split.classCounts.count) entries for \(classNames.count) classes, or a count out of range")
            }
            for (number, shard) in split.shards.enumerated() {
                guard shard.file == Self.shardName(split: name, number: number) else {
                    throw refuse("\(name): shard \(number) is \"\(PathTable.display(shard.file.utf8))\", not \(Self.shardName(split: name, number: number))")
                }
                guard (1...Self.maxExamplesPerShard).contains(shard.examples), shard.bytes >= 1024 + shard.examples * 1536 else {  // 3 headers an example at least
                    throw refuse("\(name): \(shard.file) has \(shard.examples) examples in \(shard.bytes) bytes")
                }
                let file = (folder as NSString).appendingPathComponent(shard.file)
                guard stat(file, &info) == 0 else {
                    throw DatasetError(.missing, path: file, problem: "missing (index.json lists it)", fix: "copy the whole shard folder again")
                }
                guard Int(info.st_size) == shard.bytes else {
                    throw DatasetError(.truncated, path: file, problem: "\(info.st_size) bytes, index.json says \(shard.bytes)",
                                       fix: "copy the whole shard folder again (or pack it again)")
                }
            }
            guard split.classCounts.reduce(0, +) == split.count else {
                throw refuse("\(name): class_counts sum to \(split.classCounts.reduce(0, +)), the shards hold \(split.count)", .inconsistent)
            }
        }
    }

    /// `train-000003.tar`.
    public static func shardName(split: String, number: Int) -> String {
        let digits = String(number)
        return "\(split)-\(String(repeating: "0", count: max(0, 6 - digits.count)))\(digits).tar"
    }
}
