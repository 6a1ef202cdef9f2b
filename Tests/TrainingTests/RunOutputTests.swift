import Evaluation
import Foundation
import RunConfig
import RunOutputs
import Training
import XCTest

final class RunOutputTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if ProcessInfo.processInfo.environment["KEEP_RUN_OUTPUT"] == nil { try? FileManager.default.removeItem(at: folder) }
    }

    /// A short synthetic run: 3 epochs of 10 steps, a train line every 2 steps, an eval per epoch.
    private func writeRun(to log: MetricsLog, steps: ClosedRange<Int> = 1...30) throws {
        for step in steps {
            let epoch = Double(step) / 10
            if step % 2 == 0 {
                try log.append(MetricsRecord(kind: .train, step: step, epoch: epoch, values: [
                    MetricName.loss: 2.3 * exp(-epoch) + 0.1, MetricName.learningRate: 0.1 * cos(epoch / 3 * .pi / 2),
                    MetricName.imagesPerSecond: 1500,
                ]))
            }
            if step % 10 == 0 {
                try log.append(MetricsRecord(kind: .eval, step: step, epoch: epoch, values: [
                    MetricName.top1: 0.5 + 0.1 * epoch, MetricName.top5: 0.9 + 0.02 * epoch, MetricName.nll: 1 / epoch,
                    MetricName.ece: 0.05, MetricName.oodAUROC: .nan,
                ]))
            }
        }
    }

    func testRecordLineFormatAndRoundTrip() throws {
        let record = MetricsRecord(kind: .eval, step: 470, epoch: 2, values: ["top1": 0.874, "nll": .nan, "ece": 1e-5])
        XCTAssertEqual(record.jsonLine, #"{"kind":"eval","step":470,"epoch":2.0,"ece":1e-05,"nll":null,"top1":0.874}"#)
        let back = try XCTUnwrap(MetricsRecord(jsonLine: record.jsonLine))
        XCTAssertEqual(back.step, 470)
        XCTAssertEqual(back.values["top1"], 0.874)
        XCTAssertTrue(back.values["nll"]!.isNaN)
        XCTAssertNil(MetricsRecord(jsonLine: #"{"step": 1}"#))
    }

    func testLogAppendsFlushedLinesAndResumeDropsLaterSteps() throws {
        let url = folder.appendingPathComponent("metrics.jsonl")
        let log = try MetricsLog(url: url)
        try writeRun(to: log)
        // Flushed: readable while the log is still open.
        let records = try MetricsLog.read(url)
        XCTAssertEqual(records.count, 15 + 3)
        XCTAssertEqual(records.filter { $0.kind == .eval }.map(\.step), [10, 20, 30])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8).split(separator: "\n").count, 18)

        // A crash leaves a torn last line: ignored on reading.
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"kind":"train","st"#.utf8))
        try handle.close()
        XCTAssertEqual(try MetricsLog.read(url).count, 18)

        // Resuming from the checkpoint at step 20 drops what the interrupted run logged after it.
        let resumed = try MetricsLog(url: url, resumingAfter: 20)
        XCTAssertEqual(try MetricsLog.read(url).map(\.step).max(), 20)
        try writeRun(to: resumed, steps: 21...30)
        XCTAssertEqual(try MetricsLog.read(url).map(\.jsonLine), records.map(\.jsonLine))
    }

    func testReportHasThePlotsAndTheTable() throws {
        let log = try MetricsLog(url: folder.appendingPathComponent("metrics.jsonl"))
        try writeRun(to: log)
        var config = TrainingConfig()
        config.name = "report-test"
        try config.write(to: folder.appendingPathComponent("config.yaml"))
        let url = try RunReport.write(runFolder: folder, title: "report-test")
        let html = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 3)
        for title in ["Training loss", "Test accuracy", "Learning rate"] {
            XCTAssertTrue(html.contains(">\(title)</text>"), title)
        }
        XCTAssertEqual(html.components(separatedBy: "class=\"series\"").count - 1, 4, "loss, top-1, top-5, lr")
        XCTAssertTrue(html.contains("data-name=\"top-5\""))
        XCTAssertTrue(html.contains("<table class=\"metrics\">"))
        XCTAssertTrue(html.contains("<tr><td>top1</td><td class=\"value\">0.8</td></tr>"), html)
        XCTAssertTrue(html.contains("<tr><td>ood_auroc</td><td class=\"value\">n/a</td></tr>"))
        XCTAssertTrue(html.contains("<tr><td>steps</td><td class=\"value\">30</td></tr>"))
        XCTAssertTrue(html.contains("name: report-test"))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("http://") && !html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        // Every polyline point lies inside the plot's frame.
        XCTAssertFalse(html.contains("nan"), "no NaN coordinates or cells")
        // The accuracy plot names the split the run evaluates on (config.yaml's eval.split), and
        // neither where the config cannot be read.
        config.data.validationSubset = 1000
        config.eval.split = .validation
        try config.write(to: folder.appendingPathComponent("config.yaml"))
        let validation = try String(contentsOf: RunReport.write(runFolder: folder), encoding: .utf8)
        XCTAssertTrue(validation.contains(">Validation accuracy</text>"), validation)
        XCTAssertFalse(validation.contains("Test accuracy"))
        try FileManager.default.removeItem(at: folder.appendingPathComponent("config.yaml"))
        XCTAssertTrue(try String(contentsOf: RunReport.write(runFolder: folder), encoding: .utf8).contains(">Accuracy</text>"))
    }

    /// `eval.baseline` puts the reference figure beside the run's own: a level on the accuracy plot
    /// and a row of the final table.
    func testReportShowsTheBaseline() throws {
        let log = try MetricsLog(url: folder.appendingPathComponent("metrics.jsonl"))
        try writeRun(to: log)
        let url = try RunReport.write(runFolder: folder, title: "baseline-test",
                                      baseline: EvalConfig.Baseline(label: "ERM, same budget", top1: 0.834))
        let html = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "class=\"series\"").count - 1, 5, "loss, top-1, top-5, baseline, lr")
        XCTAssertTrue(html.contains("data-name=\"baseline top-1\""), html)
        XCTAssertTrue(html.contains("<tr><td>top1 of ERM, same budget</td><td class=\"value\">0.834</td></tr>"), html)
        XCTAssertEqual(try TrainingConfig.parse(yaml: "eval: {baseline: {label: ERM, top1: 0.834}}").eval.baseline,
                       EvalConfig.Baseline(label: "ERM", top1: 0.834))
        XCTAssertThrowsError(try TrainingConfig.parse(yaml: "eval: {baseline: {label: ERM, top1: 83.4}}")) { error in
            XCTAssertEqual("\(error)", "config: eval.baseline.top1: 83.4 is not allowed; use an accuracy in [0, 1]")
        }
    }

    func testReportWithoutEvaluationsSaysSo() {
        let html = RunReport.html(records: [MetricsRecord(kind: .train, step: 1, epoch: 0.1, values: ["loss": 2.3])], title: "early")
        XCTAssertTrue(html.contains("no data yet"))
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 3)
    }
}
