import Foundation

/// What `multimix data fetch` downloads for each dataset and the checksums it holds the result to:
/// the one table of published archive checksums and per-file SHA-256s the project ships.
///
/// Two kinds of checksum, because the datasets' authors publish only MD5s of their downloads:
///
/// - **Downloads** (`cifar-10-binary.tar.gz`, …): the published MD5 of the official file (the
///   CIFAR page, torchvision's lists). It is checked when the file comes from an official URL; a
///   file from a mirror that differs (a repack) is not refused for that alone.
/// - **Data files** (what the downloads unpack to): SHA-256s computed here from real copies of the
///   official files, checked for every source, official or mirror. Where no real copy was at hand
///   (CIFAR-100's `train.bin`, MNIST's four files) the value is nil and the file is checked by its
///   record structure only (size, header, label ranges); `multimix data fetch` says so when it
///   relies on that.
///
/// Provenance of the SHA-256s: CIFAR-10's files and CIFAR-100's `test.bin` from the project's local
/// mirror (`../shared/data`: the CIFAR-10 files are the official bytes; `test.bin` has the MD5
/// `4499cfba…` listed for the official file); Fashion-MNIST's from Debian's `dataset-fashion-mnist`,
/// decompressed (Debian recompressed the `.gz` files, so their MD5s differ from the published ones,
/// but the IDX contents match SHA-256s that others list for the official files).
public struct DatasetManifest: Sendable {
    /// How the downloads hold the files.
    public enum Packing: Sendable, Equatable {
        /// One `.tar.gz` whose files sit in the dataset's folder (`cifar-10-batches-bin/…`).
        case tarGz
        /// One gzip file per data file (`train-images-idx3-ubyte.gz`, …), unpacked to the plain file.
        case gzipPerFile
    }

    /// One file to download.
    public struct Download: Sendable {
        /// The file name (the last part of every URL).
        public let name: String
        /// Where the file is published: the dataset's own URL first, then mirrors of the same bytes.
        public let urls: [String]
        /// The published MD5 of the official file (lower-case hex).
        public let md5: String
    }

    /// One file of the unpacked dataset.
    public struct File: Sendable {
        /// The file name inside the dataset's folder.
        public let name: String
        /// The split the file belongs to; nil for a metadata file (class names) that every split needs.
        public let split: DatasetSplit?
        /// The size in bytes, when known.
        public let size: Int?
        /// The SHA-256 of the official file (lower-case hex); nil where the project could not compute
        /// it from a real copy: the file is then checked by record structure only.
        public let sha256: String?
        /// Whether the dataset is incomplete without it (`readme.html` is not needed).
        public let required: Bool

        init(_ name: String, _ split: DatasetSplit?, size: Int?, sha256: String?, required: Bool = true) {
            self.name = name
            self.split = split
            self.size = size
            self.sha256 = sha256
            self.required = required
        }
    }

    /// The dataset.
    public let dataset: DatasetName
    /// The folder the dataset unpacks to inside the data directory (`cifar-10-batches-bin`).
    public let folder: String
    /// How the downloads hold the files.
    public let packing: Packing
    /// The files to download (one archive, or one gzip file per data file).
    public let downloads: [Download]
    /// The unpacked files and their checks.
    public let files: [File]

    /// The files a fetch of `splits` needs (metadata files included).
    public func files(for splits: [DatasetSplit]) -> [File] {
        files.filter { file in file.split.map(splits.contains) ?? true }
    }
}

extension DatasetName {
    /// The folder this dataset has inside a data directory, where `multimix data fetch` puts it.
    public var fetchFolder: String { manifest.folder }

    /// What `multimix data fetch` downloads and checks for this dataset.
    public var manifest: DatasetManifest {
        switch self {
        case .cifar10:
            let batch = 10_000 * 3073
            return DatasetManifest(
                dataset: self, folder: "cifar-10-batches-bin", packing: .tarGz,
                downloads: [.init(name: "cifar-10-binary.tar.gz", urls: ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
                                  md5: "c32a1d4ab5d03f1284b67883e8d87530")],
                files: [
                    .init("batches.meta.txt", nil, size: 61, sha256: "558e74b5e208382e186da55784b4bac2cd52e558448e1b5800990fdb28ed8033"),
                    .init("data_batch_1.bin", .train, size: batch, sha256: "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"),
                    .init("data_batch_2.bin", .train, size: batch, sha256: "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"),
                    .init("data_batch_3.bin", .train, size: batch, sha256: "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"),
                    .init("data_batch_4.bin", .train, size: batch, sha256: "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"),
                    .init("data_batch_5.bin", .train, size: batch, sha256: "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"),
                    .init("test_batch.bin", .test, size: batch, sha256: "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"),
                    .init("readme.html", nil, size: nil, sha256: nil, required: false),
                ])
        case .cifar100:
            return DatasetManifest(
                dataset: self, folder: "cifar-100-binary", packing: .tarGz,
                downloads: [.init(name: "cifar-100-binary.tar.gz", urls: ["https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"],
                                  md5: "03b5dce01913d631647c71ecec9e9cb8")],
                files: [
                    // The label-name files: checked by the reader (20 and 100 names), not by hash.
                    .init("coarse_label_names.txt", nil, size: nil, sha256: nil),
                    .init("fine_label_names.txt", nil, size: nil, sha256: nil),
                    .init("train.bin", .train, size: 50_000 * 3074, sha256: nil),
                    .init("test.bin", .test, size: 10_000 * 3074, sha256: "d8b1e6b7b3bee4020055f0699b111f60b1af1e262aeb93a0b659061746f8224a"),
                ])
        case .fashionMNIST:
            let base = ["https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
            return Self.idxManifest(self, folder: "fashion-mnist", base: base, md5: [
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310",
            ], sha256: [
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ])
        case .mnist:
            // yann.lecun.com is the dataset's own address (it has refused downloads at times);
            // torchvision's mirror serves the same files (same MD5s).
            let base = ["http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"]
            return Self.idxManifest(self, folder: "mnist", base: base, md5: [
                "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c",
            ], sha256: [nil, nil, nil, nil])
        }
    }

    /// An MNIST-style manifest: four gzip files at each base URL, in the order train images, train
    /// labels, test images, test labels, with their published MD5s and their contents' SHA-256s.
    private static func idxManifest(_ name: DatasetName, folder: String, base: [String], md5: [String],
                                    sha256: [String?]) -> DatasetManifest {
        let names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
        let sizes = [60_000 * 784 + 16, 60_000 + 8, 10_000 * 784 + 16, 10_000 + 8]
        let splits: [DatasetSplit] = [.train, .train, .test, .test]
        return DatasetManifest(
            dataset: name, folder: folder, packing: .gzipPerFile,
            downloads: names.indices.map { index in
                .init(name: names[index] + ".gz", urls: base.map { $0 + names[index] + ".gz" }, md5: md5[index])
            },
            files: names.indices.map { .init(names[$0], splits[$0], size: sizes[$0], sha256: sha256[$0]) })
    }

    /// The command that puts this dataset at `root` (a config's `data.root`), as advice for an error:
    /// `multimix data fetch cifar10` for the default folder, `--into PARENT` for another folder of the
    /// same name, and otherwise the fetch and the `data.root` to set afterwards.
    public func fetchAdvice(root: String) -> String {
        let parent = (root as NSString).deletingLastPathComponent
        if self == .fashionMNIST && root == defaultRoot(dataDirectory: DatasetSource.relativeDataDirectory) {
            return "install Debian's dataset-fashion-mnist (bash launch/setup.sh does), or run `multimix data fetch fashion-mnist` and set data.root to .cache/data/fashion-mnist"
        }
        if (root as NSString).lastPathComponent == fetchFolder {
            let into = parent.isEmpty || parent == DatasetSource.relativeDataDirectory ? "" : " --into \(parent)"
            return "run `multimix data fetch \(rawValue)\(into)` (from the folder you train in), or point data.root at the dataset's folder"
        }
        return "run `multimix data fetch \(rawValue) --into DIR` and set data.root to DIR/\(fetchFolder), or point data.root at the dataset's folder"
    }
}
