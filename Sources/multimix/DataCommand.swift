import ArgumentParser
import Datasets

extension Multimix {
    /// `multimix data`: look at datasets before training on them.
    struct DataCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "data",
            abstract: "Look at datasets: formats, counts, statistics, sample grids.",
            subcommands: [DataInspect.self]
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
                or .cache/data, filled by launch/setup.sh).
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

        func run() throws {
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
