import Foundation
import SafeFiles

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1], for normalisation:
///
///     x̂[c] = (pixel / 255 − mean[c]) / std[c]
///
/// Computed from a training split (``init(of:)``, exact: from per-channel histograms), cached to a
/// JSON file (``cached(for:cacheDirectory:)``), or given (``init(mean:standardDeviation:)``).
public struct ChannelStatistics: Codable, Equatable, Sendable {
    /// Mean per channel, in [0, 1].
    public let mean: [Float]
    /// Population standard deviation per channel (divides by n), in [0, 1].
    public let standardDeviation: [Float]

    /// Given statistics; one value per channel, deviations positive.
    public init(mean: [Float], standardDeviation: [Float]) {
        precondition(mean.count == standardDeviation.count, "\(mean.count) means, \(standardDeviation.count) deviations")
        precondition(standardDeviation.allSatisfy { $0 > 0 }, "standard deviations must be positive")
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    /// The statistics of every pixel of `dataset`.
    public init(of dataset: ImageDataset) {
        let channels = dataset.shape.channels
        var histogram = [Int](repeating: 0, count: channels * 256)
        histogram.withUnsafeMutableBufferPointer { counts in
            dataset.pixels.withUnsafeBufferPointer { pixels in
                var channel = 0
                for value in pixels {
                    counts[channel &* 256 &+ Int(value)] &+= 1
                    channel = channel &+ 1 == channels ? 0 : channel &+ 1
                }
            }
        }
        var means = [Float](), deviations = [Float]()
        for channel in 0..<channels {
            var n = 0.0, sum = 0.0, sumSquares = 0.0
            for value in 0..<256 {
                let count = Double(histogram[channel * 256 + value])
                let x = Double(value) / 255
                n += count; sum += count * x; sumSquares += count * x * x
            }
            let mean = n > 0 ? sum / n : 0
            let variance = n > 0 ? max(0, sumSquares / n - mean * mean) : 0
            means.append(Float(mean))
            deviations.append(Float(max(variance.squareRoot(), 1e-6)))
        }
        self.init(mean: means, standardDeviation: deviations)
    }

    /// What the cache file holds: the statistics and what they were computed from.
    struct CacheEntry: Codable {
        let format: DatasetFormat
        let root: String
        let coarseLabels: Bool
        let trainCount: Int
        let statistics: ChannelStatistics
    }

    /// The default cache folder: `$MULTIMIX_CACHE_DIR`, else `$XDG_CACHE_HOME/multimix`, else
    /// `~/.cache/multimix`.
    public static func defaultCacheDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let folder = environment["MULTIMIX_CACHE_DIR"], !folder.isEmpty { return folder }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return (xdg as NSString).appendingPathComponent("multimix") }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".cache/multimix")
    }

    /// The cache file for `source` in `cacheDirectory`: named after the format and a hash of the root.
    public static func cachePath(for source: DatasetSource, cacheDirectory: String) -> String {
        let root = URL(fileURLWithPath: source.root).standardizedFileURL.path
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, 64-bit
        for byte in root.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return (cacheDirectory as NSString).appendingPathComponent(
            "channel-stats-\(source.format.rawValue)-\(String(hash, radix: 16)).json")
    }

    /// The training split's statistics for `source`: read from the cache if it holds an entry for the
    /// same folder and training-set size, otherwise computed from `train` (loaded if not given) and
    /// written to the cache (best effort: an unwritable cache is not an error).
    public static func cached(for source: DatasetSource, train: ImageDataset? = nil,
                              cacheDirectory: String = defaultCacheDirectory()) throws -> ChannelStatistics {
        let path = cachePath(for: source, cacheDirectory: cacheDirectory)
        let root = URL(fileURLWithPath: source.root).standardizedFileURL.path
        if let data = (try? SafeFile.readText(path, maximumBytes: 1 << 20, fix: "")).map({ Data($0.utf8) }),
           let entry = try? JSONDecoder().decode(CacheEntry.self, from: data),
           entry.format == source.format, entry.root == root, entry.coarseLabels == source.coarseLabels,
           train == nil || entry.trainCount == train!.count {
            return entry.statistics
        }
        let dataset = try train ?? source.load(.train)
        let statistics = ChannelStatistics(of: dataset)
        let entry = CacheEntry(format: source.format, root: root, coarseLabels: source.coarseLabels,
                               trainCount: dataset.count, statistics: statistics)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? encoder.encode(entry) {
            try? FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
            try? SafeFile.write(data, to: path)
        }
        return statistics
    }
}
