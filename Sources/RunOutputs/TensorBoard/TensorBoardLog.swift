import Evaluation
import Foundation
import RunConfig
import SafeFiles
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The run's TensorBoard event files, `tb/events.out.tfevents.*`: every `metrics.jsonl` record as
/// scalars at its step (tag `KIND/NAME`: `train/loss`, `eval/top1`, …, float32), and a histogram of the
/// trainable parameters per evaluation. Rank 0 owns it; each record is written to the OS at once, as
/// `metrics.jsonl`'s lines are (a crash loses at most the record being written, which readers skip).
///
/// Resuming. TensorBoard reads every events file of the folder, in name order, and a resumed run
/// logs the steps after its checkpoint again, so each session (each `multimix train`):
///   1. rewrites every existing file of the folder keeping only the events at or before the step it
///      resumes from (`resumingAfter`; 0 for a fresh start), each atomically (a temporary file
///      renamed over it), and deletes a file left with no scalars or histograms: a fresh read of the
///      folder then finds each point once, as `metrics.jsonl` has it;
///   2. starts a new file, named after the newest one (its timestamp field is past theirs), that
///      begins with a `SessionLog` START event at the step after it: a TensorBoard already watching
///      the folder, which read the lost steps before, drops its points from that step on when it
///      reads the event (its purge of orphaned data), and then reads them again as they are logged.
public final class TensorBoardLog {
    /// The folder (`runs/NAME/tb`).
    public let folder: URL
    /// This session's file.
    public let url: URL
    private let handle: FileHandle
    private let clock: () -> Double

    /// The prefix of TensorBoard's events file names (it reads the files whose names contain "tfevents").
    public static let filePrefix = "events.out.tfevents."

    /// Opens a new events file in `folder` (created if needed) after truncating the folder's existing
    /// files to the steps up to `step` (see the type's comment). `clock` gives wall times (seconds since 1970).
    public init(folder: URL, resumingAfter step: Int = 0,
                clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        self.folder = folder
        self.clock = clock
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: folder, withIntermediateDirectories: true)
        let existing = try TensorBoardLog.eventFiles(in: folder)
        for file in existing { try TensorBoardLog.truncate(file, keepingStepsThrough: step) }

        // Names sort by their timestamp field (10 digits): this file sorts after every earlier one.
        let newest = existing.compactMap { Int($0.lastPathComponent.dropFirst(Self.filePrefix.count).prefix(10)) }.max() ?? 0
        let seconds = max(Int(clock()), newest + 1)
        url = folder.appendingPathComponent(Self.filePrefix + String(format: "%010d", seconds)
                                            + ".\(TensorBoardLog.hostName()).\(getpid())")
        handle = FileHandle(fileDescriptor: try SafeFile.open(url.path, flags: O_WRONLY | O_CREAT | O_EXCL), closeOnDealloc: true)
        try write(EventFile.versionEvent(wallTime: clock()))
        try write(EventFile.sessionStartEvent(wallTime: clock(), step: step + 1))
    }

    deinit { try? handle.close() }

    /// Appends a metrics record's values as scalars at its step, tagged `KIND/NAME`, in name order.
    public func append(_ record: MetricsRecord) throws {
        let scalars = record.values.sorted { $0.key < $1.key }.map { (tag: Self.tag(record.kind, $0.key), value: Float($0.value)) }
        try write(EventFile.scalarsEvent(wallTime: clock(), step: record.step, scalars))
    }

    /// Appends a histogram of `values` at `step`.
    public func appendHistogram(tag: String, step: Int, values: UnsafeBufferPointer<Float>) throws {
        try write(EventFile.histogramEvent(wallTime: clock(), step: step, tag: tag, EventFile.Histogram(values)))
    }

    /// The tag of metric `name` in records of `kind`: `train/loss`, `eval/top1`.
    public static func tag(_ kind: MetricsRecord.Kind, _ name: String) -> String { "\(kind.rawValue)/\(name)" }

    /// The tag of the histogram of the trainable parameters, written at each evaluation.
    public static let parametersTag = "parameters"

    /// The events files of `folder`, in name order.
    public static func eventFiles(in folder: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasPrefix(filePrefix) }.sorted().map { folder.appendingPathComponent($0) }
    }

    private func write(_ event: [UInt8]) throws {
        try handle.write(contentsOf: EventFile.record(event))
    }

    /// Keeps the intact events of `file` at steps up to `step`: rewritten atomically when that drops any,
    /// deleted when no scalar or histogram is left. A damaged record is dropped alone, never the
    /// intact events after it.
    static func truncate(_ file: URL, keepingStepsThrough step: Int) throws {
        let bytes = [UInt8](try Data(contentsOf: file))
        let (payloads, intactCount) = EventFile.records(bytes)
        let kept = payloads.filter { (EventFile.stepAndKind($0)?.step ?? Int.max) <= step }
        guard kept.count < payloads.count || intactCount < bytes.count else { return }
        if !kept.contains(where: { EventFile.stepAndKind($0)?.isSummary == true }) {
            try FileManager.default.removeItem(at: file)
            return
        }
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".rewrite.tmp")
        try DurableFile.write(kept.flatMap { EventFile.record(Array($0)) }, to: temporary)
        try DurableFile.rename(temporary, to: file)
        try DurableFile.syncFolder(file.deletingLastPathComponent())
    }

    /// This machine's name, as a file name part (letters, digits, '-', '_' and '.'; "host" if none).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "host" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let safe = String(name.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) ? Character($0) : "_" })
        return safe.isEmpty ? "host" : safe
    }
}
