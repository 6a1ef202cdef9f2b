import ArgumentParser
import DataFetch
import Datasets
import Foundation
import ImageWriting
import SafeFiles

extension Multimix {
    /// `multimix data`: look at datasets before training on them.
    struct DataCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "data",
            abstract: "Fetch datasets, look at them (formats, counts, statistics, sample grids), pack image folders into tar shards.",
            subcommands: [DataInspect.self, DataFetchCommand.self, DataPack.self]
        )
    }

    /// `multimix data inspect PATH_OR_NAME [--grid FILE.png]`.
    struct DataInspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inspect",
            abstract: "Print a dataset's format, counts per split and class, image shape, mean and std.",
            discussion: """
                PATH_OR_NAME is a folder (or a file in it) whose format is sniffed, or one of the names \
                \(DatasetSource.knownNames.map(\.name).joined(separator: ", ")), which resolve to default folders \
                (Fashion-MNIST under /usr/share/datasets/fashion-mnist, the others under $MULTIMIX_DATA_DIR \
                or .cache/data, filled by `multimix data fetch`).
                """
        )

        /// A split named on the command line.
        enum SplitChoice: String, ExpressibleByArgument, CaseIterable {
            case train, test
            var split: DatasetSplit { self == .train ? .train : .test }
        }

        @Argument(help: "A dataset folder or file, or a name: fashion-mnist, mnist, cifar10, cifar100.")
        var pathOrName: String

        @Option(help: "Write a labelled grid of sample images to this PNG file.")
        var grid: String?

        @Option(help: "The split for the statistics and the grid (default: train if present, else test).")
        var split: SplitChoice?

        @Flag(help: "CIFAR-100: use the 20 coarse labels instead of the 100 fine ones.")
        var coarseLabels = false

        @Option(help: "Grid: images per class.")
        var perClass = 8

        @Option(help: "Grid: at most this many classes (rows), the first ones.")
        var classes = 10

        @Option(help: "Grid: each image pixel becomes a square this many pixels wide.")
        var scale = 2

        @Option(help: "Folder that the names resolve under (default: $MULTIMIX_DATA_DIR, else .cache/data).")
        var dataDirectory: String?

        func validate() throws {
            guard perClass >= 1, classes >= 1, scale >= 1, perClass <= 100, classes <= 100, scale <= 16 else {
                throw ValidationError("--per-class and --classes must be in [1, 100] and --scale in [1, 16] (got \(perClass), \(classes), \(scale)).")
            }
            if let grid, !grid.lowercased().hasSuffix(".png") {
                throw ValidationError("--grid names a PNG file; end it in .png (got \(grid)).")
            }
        }

        @Option(help: "Image folders: images larger than this many pixels are reported as bad, not decoded.")
        var maxImagePixels = ImageDecoder.defaultMaxPixels

        func run() throws {
            // A link, a device or a folder at --grid is refused before any work (PNGWriter refuses it too).
            if let grid { try SafeFile.requireReplaceable(grid) }
            if DatasetName(lenient: pathOrName) == nil, ImageFolderListing.isFolder(pathOrName + "/train") {
                return try inspectImageFolder()
            }
            let source = try DatasetSource.resolve(pathOrName, dataDirectory: dataDirectory, coarseLabels: coarseLabels)
            let report = try DatasetReport(source: source, statisticsSplit: split?.split)
            print(report.text)
            guard let grid else { return }
            let dataset = report.dataset(report.statisticsSplit)!
            let canvas = ImageGrid.render(dataset, classes: Array(0..<min(classes, dataset.classCount)),
                                          perClass: perClass, scale: scale)
            try PNGWriter.write(width: canvas.width, height: canvas.height, rgb: canvas.rgb, to: grid)
            print("grid     \(grid): \(min(classes, dataset.classCount)) classes x \(perClass) \(report.statisticsSplit) images, \(canvas.width)x\(canvas.height) pixels")
        }
    }
}

extension Multimix.DataInspect {
    /// An image folder: every file decoded with a progress line, then the report and, with --grid, a
    /// grid of the first images of each class resized to 32 pixels.
    func inspectImageFolder() throws {
        let live = isatty(STDERR_FILENO) != 0
        var last = Date.distantPast
        let inspection = try ImageFolderInspection(root: pathOrName, maxPixels: maxImagePixels) { done, total in
            let now = Date()
            guard done == total || now.timeIntervalSince(last) >= (live ? 0.2 : 5) else { return }
            last = now
            let line = "decoding \(done)/\(total) images (\(100 * done / max(total, 1))%)"
            FileHandle.standardError.write(Data((live ? "\r\(line)\u{1B}[K" + (done == total ? "\n" : "") : line + "\n").utf8))
        }
        print(inspection.text)
        guard let grid else { return }
        let images = inspection.gridImages(classes: classes, perClass: perClass, size: 32, maxPixels: maxImagePixels)
        let canvas = ImageGrid.render(images, classes: Array(0..<min(classes, images.classCount)), perClass: perClass, scale: scale)
        try PNGWriter.write(width: canvas.width, height: canvas.height, rgb: canvas.rgb, to: grid)
        print("grid     \(grid): \(min(classes, images.classCount)) classes x \(perClass) train/ images at 32x32, \(canvas.width)x\(canvas.height) pixels")
    }
}

extension Multimix {
    /// `multimix data fetch NAME [--into DIR] [--from URL_OR_PATH]`.
    struct DataFetchCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fetch",
            abstract: "Download a dataset, check it and unpack it where data.root expects it.",
            discussion: """
                NAME is one of \(DatasetName.choices). The dataset goes into DIR/FOLDER (DIR is .cache/data \
                by default, the folder the configs' data.root defaults to when run from the repository): \
                cifar-10-batches-bin, cifar-100-binary, mnist or fashion-mnist.

                Checks: a download from the official URL must have the MD5 its authors publish (they \
                publish no SHA-256); every unpacked file is held to the SHA-256 the project ships, so a \
                mirror that repacked the same files passes and a damaged or different file fails, named; \
                then every record is read. Files with no shipped SHA-256 (CIFAR-100's train.bin, MNIST's \
                four files) are checked by record structure only (size, header, label ranges) unless the \
                download is the official file; the output says so. Nothing is installed until every check \
                passes.

                --from takes a mirror URL (CIFAR: the archive's URL; MNIST-style: the folder URL holding \
                the four .gz files), a local archive, or a local folder holding the dataset's files, plain, \
                .gz or .xz (air-gapped clusters, launch/setup.sh's local mirror). An interrupted download \
                continues where it stopped (DIR/.downloads/*.part), on a retry or on the next run.

                On a cluster fetch once per folder, never in every rank: on a login node into a shared \
                folder (--into /shared/data, then data.root: /shared/data/cifar-10-batches-bin), or once \
                on every node. A second fetch into the same folder waits for the first, then finds the \
                dataset in place.

                The OOD image sets of ODIN (lsun-crop, lsun-resize, isun, tinyimagenet-crop, \
                tinyimagenet-resize: 32x32 images without classes) go into DIR/NAME, for eval.ood entries \
                {name: NAME, dataset: image-folder, root: DIR/NAME}. Their authors publish no checksum: the \
                SHA-256 of the fetched archive is printed and kept in DIR/NAME/fetched-archive.sha256, and \
                nothing else is checked but that the archive unpacks to images. --from takes a mirror URL \
                or a local archive; --max-size bounds a download. tinyimagenet (cs231n's zip: 200 classes of \
                64x64 images) goes into DIR/tinyimagenet as an image folder, train/CLASS and val/CLASS \
                (val/ sorted into classes by val_annotations.txt), for data: {dataset: image-folder, \
                root: DIR/tinyimagenet, image_size: 64}; its SHA-256 is recorded the same way.
                """
        )

        enum SplitChoice: String, ExpressibleByArgument, CaseIterable {
            case all, train, test
            var splits: [DatasetSplit] {
                switch self {
                case .all: return [.train, .test]
                case .train: return [.train]
                case .test: return [.test]
                }
            }
        }

        @Argument(help: "The dataset: fashion-mnist, mnist, cifar10 or cifar100; or an image archive: tinyimagenet, or the OOD sets lsun-crop, lsun-resize, isun, tinyimagenet-crop, tinyimagenet-resize.")
        var name: String

        @Option(help: "The data directory to put the dataset's folder in.")
        var into: String = DatasetSource.relativeDataDirectory

        @Option(help: "A mirror URL, a local archive, or a local folder with the dataset's files (plain, .gz or .xz).")
        var from: String?

        @Option(help: "Fetch only this split (all, train or test): CIFAR-100's test split alone serves out-of-distribution evaluation.")
        var split: SplitChoice = .all

        @Option(help: "Seconds without a byte before a download counts as stalled.")
        var stallTimeout: Double = 60

        @Option(help: "How many times to resume a download that drops or stalls before giving up.")
        var retries: Int = 3

        @Flag(help: "Fetch again even if the dataset is already in place and intact.")
        var force = false

        @Flag(help: "Keep the downloaded archive in DIR/.downloads.")
        var keepDownload = false

        @Option(help: "Image archives: the most megabytes a download may have (its images may unpack to 8 times that; default 400 for tinyimagenet, 200 for the others).")
        var maxSize: Double?

        func validate() throws {
            guard DatasetName(lenient: name) != nil || ImageArchiveName(rawValue: name.lowercased()) != nil else {
                throw ValidationError("unknown dataset '\(name)'; choose \(DatasetName.choices), or an image archive: \(ImageArchiveName.choices).")
            }
            if let maxSize, !(maxSize > 0 && maxSize <= 100_000) {
                throw ValidationError("--max-size must be in (0, 100000] megabytes (got \(maxSize)).")
            }
            guard stallTimeout > 0, stallTimeout <= 86_400 else {
                throw ValidationError("--stall-timeout must be in (0, 86400] seconds (got \(stallTimeout)).")
            }
            guard (0...100).contains(retries) else {
                throw ValidationError("--retries must be in [0, 100] (got \(retries)).")
            }
        }

        func run() throws {
            if let archive = ImageArchiveName(rawValue: name.lowercased()) {
                guard split == .all else { throw ValidationError("--split is for the built-in datasets; \(archive.rawValue) is one set of images.") }
                try ImageArchiveFetcher(archive: archive, into: into, from: from, stallTimeout: stallTimeout, retries: retries, force: force,
                                        keepDownload: keepDownload, maxBytes: maxSize.map { Int64($0 * 1_048_576) }).run()
                return
            }
            let fetcher = DatasetFetcher(dataset: DatasetName(lenient: name)!, into: into, from: from, splits: split.splits,
                                         stallTimeout: stallTimeout, retries: retries, force: force, keepDownload: keepDownload)
            try fetcher.run()
        }
    }
}
