import Foundation

/// What `multimix data inspect` prints: the format found, counts per split and per class, the image
/// shape, and the per-channel mean and standard deviation.
///
///     dataset  CIFAR-10 binary at .cache/data/cifar-10-batches-bin
///     images   32x32x3 (height x width x channels, 8-bit), 10 classes
///     splits   train 50000, test 10000
///     class               train   test
///       0 airplane         5000   1000
///     ...
///     mean     0.4914 0.4822 0.4465   (train split, per channel, pixel / 255)
///     std      0.2470 0.2435 0.2616
public struct DatasetReport {
    /// Where the data came from.
    public let source: DatasetSource
    /// The splits found, loaded, in train, test order.
    public let splits: [(split: DatasetSplit, dataset: ImageDataset)]
    /// The split the statistics describe.
    public let statisticsSplit: DatasetSplit
    /// Per-channel statistics of that split.
    public let statistics: ChannelStatistics

    /// Loads every split present in `source` and computes the statistics of `statisticsSplit`
    /// (default: train if present, else the first split found).
    public init(source: DatasetSource, statisticsSplit: DatasetSplit? = nil) throws {
        let available = source.availableSplits
        guard !available.isEmpty else {
            try DatasetFolder.requireFolder(source.root)
            throw DatasetError(.missing, path: source.root, problem: "no complete split found for \(source.format.displayName)",
                               fix: DatasetError.refetchAdvice)
        }
        self.source = source
        splits = try available.map { ($0, try source.load($0)) }
        let chosen = statisticsSplit ?? available[0]
        guard let dataset = splits.first(where: { $0.split == chosen })?.dataset else {
            throw DatasetError(.missing, path: source.root, problem: "the \(chosen) split is not there (found: \(available.map(\.rawValue).joined(separator: ", ")))",
                               fix: "choose a split that exists, or " + DatasetError.refetchAdvice)
        }
        self.statisticsSplit = chosen
        statistics = ChannelStatistics(of: dataset)
    }

    /// The dataset of `split`, if it was found.
    public func dataset(_ split: DatasetSplit) -> ImageDataset? { splits.first { $0.split == split }?.dataset }

    /// The report as text, one fact a line.
    public var text: String {
        let first = splits[0].dataset
        func number(_ value: Float) -> String { String(format: "%.4f", value) }
        func padded(_ text: String, _ width: Int, left: Bool = false) -> String {
            let padding = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + padding : padding + text
        }
        var lines = [
            "dataset  \(source.format.displayName) at \(source.root)",
            "images   \(first.shape) (height x width x channels, 8-bit), \(first.classCount) classes"
                + (source.format == .cifar100 ? (source.coarseLabels ? " (coarse labels)" : " (fine labels)") : ""),
            "splits   " + DatasetSplit.allCases.map { split in
                dataset(split).map { "\(split) \($0.count)" } ?? "\(split) absent"
            }.joined(separator: ", "),
        ]
        let nameWidth = max(5, first.classNames.map(\.count).max()! + 5)
        lines.append(padded("class", nameWidth + 2, left: true) + splits.map { padded($0.split.rawValue, 8) }.joined())
        let counts = splits.map(\.dataset.countsPerClass)
        for label in 0..<first.classCount {
            let name = "  " + padded("\(label)", 3) + " " + first.classNames[label]
            lines.append(padded(name, nameWidth + 2, left: true) + counts.map { padded("\($0[label])", 8) }.joined())
        }
        lines.append("mean     " + statistics.mean.map(number).joined(separator: " ")
                     + "   (\(statisticsSplit) split, per channel, pixel / 255)")
        lines.append("std      " + statistics.standardDeviation.map(number).joined(separator: " "))
        return lines.joined(separator: "\n")
    }
}
