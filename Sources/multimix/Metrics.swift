import ArgumentParser
import Datasets
import Evaluation
import Foundation
import RunOutputs
import SafeFiles
import Training

/// `multimix metrics`: the medians of a run's training records (speed, step time, exposed
/// communication, data wait), as launch/bench/scaling.sh tabulates them.
struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Medians of a run's train records: images/s, step ms, exposed communication ms, data wait, exposed share of the step.",
        discussion: """
            Reads RUN's metrics.jsonl (RUN is a run folder, runs/NAME, or the file itself) and takes, over \
            the "train" records of the steps after --skip-steps (the warm-up), the median of each value \
            and of exposed_comm_ms / step_ms; a value missing or null in a record leaves that record out \
            of its median. --json prints one object: records, skip_steps, images_per_s, step_ms, \
            exposed_comm_ms, data_wait_fraction, exposed_share (a fraction; null where no record had the \
            values).
            Example: multimix metrics runs/fashion-mnist-resnet20-multimix --skip-steps 5 --json
            """
    )

    @Argument(help: ArgumentHelp("A run folder (runs/NAME) or its metrics.jsonl.", valueName: "run"))
    var runPath: String

    @Option(help: "Leave out the train records of steps 1...N (the warm-up).")
    var skipSteps = 0

    @Flag(help: "Print one JSON object.")
    var json = false

    /// The values whose medians are taken, in the order printed: key in metrics.jsonl, label.
    static let columns = [(MetricName.imagesPerSecond, "images/s"), ("step_ms", "step ms"),
                          ("exposed_comm_ms", "exposed comm ms"), ("data_wait_fraction", "data wait fraction")]

    func validate() throws {
        guard !runPath.isEmpty else { throw ValidationError("RUN is empty; give a run folder (runs/NAME) or its metrics.jsonl") }
        guard skipSteps >= 0 else { throw ValidationError("--skip-steps must be at least 0 (got \(skipSteps)).") }
    }

    func run() throws {
        do {
            try summarize()
        } catch {
            JobExit.fail(error)
        }
    }

    /// The median of `values` (the mean of the middle two for an even count); nil when empty.
    static func median(_ values: [Double]) -> Double? {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return nil }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    private func summarize() throws {
        let path = SafeFile.nonRegularKind(runPath) == "a folder" ? URL(fileURLWithPath: runPath).appendingPathComponent("metrics.jsonl").path : runPath
        let records = try MetricsLog.read(URL(fileURLWithPath: path)).filter { $0.kind == .train && $0.step > skipSteps }
        guard !records.isEmpty else {
            throw ValidationError("\(path): no train records after step \(skipSteps); lower --skip-steps, or give a run that trained longer")
        }
        func finite(_ values: [Double?]) -> [Double] { values.compactMap { $0 }.filter(\.isFinite) }
        var medians: [(key: String, label: String, value: Double?)] = Self.columns.map { key, label in
            (key, label, Self.median(finite(records.map { $0.values[key] })))
        }
        let shares = finite(records.map { record in
            guard let exposed = record.values["exposed_comm_ms"], let step = record.values["step_ms"], step > 0 else { return nil }
            return exposed / step
        })
        medians.append(("exposed_share", "exposed share of the step", Self.median(shares)))
        if json {
            var object: [String: Any] = ["records": records.count, "skip_steps": skipSteps]
            for median in medians { object[median.key] = median.value.map { $0 as Any } ?? NSNull() }
            let text = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: text, as: UTF8.self))
        } else {
            print("\(path): medians of \(records.count) train record\(records.count == 1 ? "" : "s") after step \(skipSteps)")
            for median in medians {
                print("  " + median.label.padding(toLength: 28, withPad: " ", startingAt: 0) + (median.value.map { String(format: "%.4f", $0) } ?? "-"))
            }
        }
    }
}
