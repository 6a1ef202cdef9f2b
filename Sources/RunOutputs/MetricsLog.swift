import Evaluation
import Foundation
import RunConfig
import SafeFiles
import TextEscaping

/// One line of `metrics.jsonl`: a logged training interval or an evaluation.
///
///     {"kind":"train","step":400,"epoch":1.7,"images_per_s":2210.5,"loss":0.83,"lr":0.1}
///     {"kind":"eval","step":470,"epoch":2,"ece":0.031,"nll":0.35,"top1":0.874,"top5":0.997}
///
/// `kind`, `step` and `epoch` come first, then the values in name order (see ``MetricName``).
/// Non-finite values are written as `null` (JSON has no NaN) and read back as NaN.
public struct MetricsRecord: Equatable, Sendable {
    /// What the line records.
    public enum Kind: String, Sendable {
        /// A training interval (loss, learning rate, throughput).
        case train
        /// An evaluation on the test split (and OOD set).
        case eval
    }

    public var kind: Kind
    /// Optimizer steps completed.
    public var step: Int
    /// Epochs completed, fractional within an epoch (step / steps per epoch).
    public var epoch: Double
    /// Metric name → value.
    public var values: [String: Double]

    public init(kind: Kind, step: Int, epoch: Double, values: [String: Double]) {
        precondition(values["kind"] == nil && values["step"] == nil && values["epoch"] == nil,
                     "MetricsRecord: kind, step and epoch are not metric names")
        self.kind = kind
        self.step = step
        self.epoch = epoch
        self.values = values
    }

    /// The record as one JSON line (no newline).
    public var jsonLine: String {
        func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
        let fields = ["\"kind\":\(JSONText.quoted(kind.rawValue))", "\"step\":\(step)", "\"epoch\":\(number(epoch))"]
            + values.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\(number($0.value))" }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// Parses one JSON line; nil if it is not a record.
    public init?(jsonLine line: String) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let kind = (object["kind"] as? String).flatMap(Kind.init(rawValue:)),
              let step = (object["step"] as? NSNumber)?.intValue,
              let epoch = (object["epoch"] as? NSNumber)?.doubleValue else { return nil }
        var values: [String: Double] = [:]
        for (key, value) in object where !["kind", "step", "epoch"].contains(key) {
            if let number = value as? NSNumber {
                values[key] = number.doubleValue
            } else if value is NSNull {
                values[key] = .nan
            }
        }
        self.init(kind: kind, step: step, epoch: epoch, values: values)
    }
}

/// The run's `metrics.jsonl`, appended one line per record and flushed to the OS at once (a crash
/// loses at most the line being written). Rank 0 owns it.
public final class MetricsLog {
    /// The file.
    public let url: URL
    private let handle: FileHandle

    /// Opens `url` for appending, creating it if needed. When resuming from a checkpoint at step
    /// `resumingAfter`, lines with a later step (logged by the run that was interrupted, and about to
    /// be logged again) are dropped first, so the log reads as one uninterrupted run.
    public init(url: URL, resumingAfter step: Int? = nil) throws {
        self.url = url
        let fileManager = FileManager.default
        if let step, fileManager.fileExists(atPath: url.path) {
            // Keep the lines' own text: re-encoding parsed numbers could change their last digit.
            let kept = try MetricsLog.lines(url).filter { $0.record.step <= step }
            try SafeFile.write(kept.map { $0.text + "\n" }.joined(), to: url.path)
        }
        // Never through a link or into a device planted at the log's path.
        handle = FileHandle(fileDescriptor: try SafeFile.open(url.path, flags: O_WRONLY | O_CREAT | O_APPEND), closeOnDealloc: true)
    }

    deinit { try? handle.close() }

    /// Appends one record as a line.
    public func append(_ record: MetricsRecord) throws {
        try handle.write(contentsOf: Data((record.jsonLine + "\n").utf8))
    }

    /// Reads every record of a log. A last line cut short by a crash is ignored; any other line that
    /// is not a record is an error naming the file and line.
    public static func read(_ url: URL) throws -> [MetricsRecord] {
        try lines(url).map(\.record)
    }

    /// Each record with its line's text.
    private static func lines(_ url: URL) throws -> [(text: String, record: MetricsRecord)] {
        let text = try SafeFile.readText(url.path, maximumBytes: 1 << 30,
                                         fix: "give a metrics.jsonl that multimix train wrote")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var records: [(text: String, record: MetricsRecord)] = []
        for (index, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            if let record = MetricsRecord(jsonLine: String(line)) {
                records.append((String(line), record))
            } else if index != lines.count - 1 {
                throw UsageError("\(url.path): line \(index + 1) is not a metrics record; remove or repair that line")
            }
        }
        return records
    }
}
