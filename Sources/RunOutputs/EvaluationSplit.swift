import Foundation
import RunConfig
import SafeFiles

extension EvalConfig.Split {
    /// The split a run folder's evaluations are on, from its `config.yaml`; nil where there is none
    /// or it cannot be read (an older or damaged file): then pages say neither.
    public static func of(runFolder: URL) -> EvalConfig.Split? {
        (try? SafeFile.readText(runFolder.appendingPathComponent("config.yaml").path, fix: "")).flatMap(of(configYAML:))
    }

    /// The split a run's `config.yaml` text evaluates on; nil where it does not parse.
    public static func of(configYAML text: String) -> EvalConfig.Split? {
        (try? TrainingConfig.parse(yaml: text, source: "config.yaml"))?.eval.split
    }

    /// "Test" or "Validation", to begin a plot's title.
    public var title: String { capitalised(rawValue) }

    /// A plot's title for `metric` evaluated on `split`: "Validation top-1", or the metric alone
    /// ("Top-1") where the split is unknown (nil) or the runs plotted differ.
    public static func plotTitle(_ metric: String, on split: EvalConfig.Split?) -> String {
        guard let split else { return capitalised(metric) }
        return "\(split.title) \(metric)"
    }
}

private func capitalised(_ text: String) -> String { text.prefix(1).uppercased() + text.dropFirst() }
