import Foundation
import RunConfig
import SafeFiles

extension EvalConfig.Split {
    /// The split a run folder's evaluations are on, from its `config.yaml`; nil where there is none
    /// or it cannot be read (an older or damaged file): then pages say neither.
    public static func of(runFolder: URL) -> EvalConfig.Split? {
        guard let text = try? SafeFile.readText(runFolder.appendingPathComponent("config.yaml").path, fix: ""),
              let config = try? TrainingConfig.parse(yaml: text, source: "config.yaml") else { return nil }
        return config.eval.split
    }

    /// "Test" or "Validation", to begin a plot's title.
    public var title: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }

    /// A plot's title for `metric` evaluated on `split`: "Validation top-1", or the metric alone
    /// ("Top-1") where the split is unknown (nil) or the runs plotted differ.
    public static func plotTitle(_ metric: String, on split: EvalConfig.Split?) -> String {
        guard let split else { return metric.prefix(1).uppercased() + metric.dropFirst() }
        return "\(split.title) \(metric)"
    }
}
