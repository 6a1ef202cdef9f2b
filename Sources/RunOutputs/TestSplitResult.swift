import Foundation
import SafeFiles

/// A run folder's `test.json`: the test split evaluated once on the run's final model. A study with
/// `final_test: true` writes it as each run finishes, while the run's own evaluations (metrics.jsonl)
/// were on the validation split where settings are chosen; the study tabulates these only when every
/// run has one, so the test split is reported once.
///
///     {"epoch":100,"metrics":{"ood_auroc":0.71,"top1":0.80,...},"step":3900}
///
/// A non-finite metric is `null` (JSON has no NaN) and reads back as NaN.
public struct TestSplitResult: Codable, Equatable, Sendable {
    /// The file's name in a run folder.
    public static let fileName = "test.json"
    /// The most bytes a `test.json` is read from: a few hundred metrics at most.
    static let maximumBytes = 1 << 20

    /// The optimizer step and epoch of the model evaluated.
    public var step: Int
    public var epoch: Int
    /// The evaluation's metrics, as metrics.jsonl's eval records name them.
    public var metrics: [String: Double]

    public init(step: Int, epoch: Int, metrics: [String: Double]) {
        self.step = step
        self.epoch = epoch
        self.metrics = metrics
    }

    enum CodingKeys: String, CodingKey { case step, epoch, metrics }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        step = try container.decode(Int.self, forKey: .step)
        epoch = try container.decode(Int.self, forKey: .epoch)
        metrics = try container.decode([String: Double?].self, forKey: .metrics).mapValues { $0 ?? .nan }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(step, forKey: .step)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(metrics.mapValues { $0.isFinite ? $0 : nil } as [String: Double?], forKey: .metrics)
    }

    /// `runFolder/test.json`, or nil when there is none. One that is there but damaged (not a regular
    /// file, too large, not this JSON) is an error naming the file: a study must not report around it.
    public static func read(runFolder: URL) throws -> TestSplitResult? {
        let path = runFolder.appendingPathComponent(fileName).path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let fix = "delete it and run the study again: the run's final checkpoint is evaluated anew"
        let text = try SafeFile.readText(path, maximumBytes: maximumBytes, fix: fix)
        do {
            return try JSONDecoder().decode(TestSplitResult.self, from: Data(text.utf8))
        } catch {
            throw SafeFileError(path: path, problem: "is not a test.json (step, epoch, metrics)", fix: fix)
        }
    }

    /// Writes `runFolder/test.json` durably: a temporary file, fsynced, renamed, folder fsynced.
    public func write(runFolder: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try DurableFile.replace(TestSplitResult.fileName, in: runFolder, with: Array(try encoder.encode(self)) + [0x0A])
    }
}
