import Foundation

/// A run's records on rank 0: the metrics log (`metrics.jsonl`) and the TensorBoard event files
/// (`tb/`) beside it, both continuing after the step a run resumed from (records of an interrupted
/// run's lost steps are dropped: they are about to be logged again).
public final class RunLog {
    public let metrics: MetricsLog
    public let tensorBoard: TensorBoardLog

    public init(runFolder: URL, resumingAfter step: Int) throws {
        metrics = try MetricsLog(url: runFolder.appendingPathComponent("metrics.jsonl"), resumingAfter: step)
        tensorBoard = try TensorBoardLog(folder: runFolder.appendingPathComponent("tb"), resumingAfter: step)
    }

    /// Appends `record` to both.
    public func append(_ record: MetricsRecord) throws {
        try metrics.append(record)
        try tensorBoard.append(record)
    }
}
