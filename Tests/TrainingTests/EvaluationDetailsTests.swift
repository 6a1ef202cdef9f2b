import Evaluation
import Foundation
import RunOutputs
import Studies
import Training
import XCTest

/// The reliability bins and MSP histograms behind the report's calibration and OOD plots, and the
/// pages that show them (run report, `multimix report` comparison).
final class EvaluationDetailsTests: XCTestCase {
    /// Four 2-class examples with confidences worked out by hand:
    ///
    ///     logits  label  max softmax p              top-1  ECE bin (of 15)    MSP bin (of 20)
    ///     [0, 0]    0    1/2           = 0.5         hit    ⌈7.5⌉−1  = 7       ⌈10⌉−1   = 9  (edge: (0.45, 0.5])
    ///     [1, 0]    0    e/(e+1)       = 0.73106     hit    ⌈10.97⌉−1 = 10     ⌈14.62⌉−1 = 14
    ///     [1, 0]    1    e/(e+1)       = 0.73106     miss   10                 14
    ///     [0, 2]    1    1/(1+e⁻²)     = 0.88080     hit    ⌈13.21⌉−1 = 13     ⌈17.62⌉−1 = 17
    func testReliabilityBinsAndHistogramMatchAHandComputation() {
        let logits: [Float] = [0, 0, 1, 0, 1, 0, 0, 2]
        var tally = ClassificationTally()
        tally.add(logits: logits, classes: 2, labels: [0, 0, 1, 1])
        let bins = EvaluationDetails.reliability(of: tally)
        XCTAssertEqual(bins.count, 15)
        let p1 = exp(1.0) / (exp(1.0) + 1), p2 = 1 / (1 + exp(-2.0))
        let expected: [Int: (count: Double, confidence: Double, accuracy: Double)] = [7: (1, 0.5, 1), 10: (2, p1, 0.5), 13: (1, p2, 1)]
        for (b, bin) in bins.enumerated() {
            if let want = expected[b] {
                XCTAssertEqual(bin.count, want.count, "bin \(b)")
                XCTAssertEqual(bin.confidence, want.confidence, accuracy: 1e-6, "bin \(b)")
                XCTAssertEqual(bin.accuracy, want.accuracy, "bin \(b)")
            } else {
                XCTAssertEqual(bin.count, 0, "bin \(b)")
                XCTAssertTrue(bin.confidence.isNaN && bin.accuracy.isNaN, "empty bin \(b)")
            }
        }
        // The bins give the tally's ECE: Σ count·|accuracy − confidence| / N.
        let ece = bins.filter { $0.count > 0 }.reduce(0.0) { $0 + $1.count * abs($1.accuracy - $1.confidence) } / 4
        XCTAssertEqual(ece, tally.ece, accuracy: 1e-12)
        XCTAssertEqual(ece, (0.5 + abs(1 - 2 * p1) + (1 - p2)) / 4, accuracy: 1e-6)

        var histogram = ScoreHistogram(name: "test")
        histogram.add(logits.withUnsafeBufferPointer { OODScores.maximumSoftmaxProbabilities(logits: $0, classes: 2) })
        var counts = [Double](repeating: 0, count: 20)
        (counts[9], counts[14], counts[17]) = (1, 2, 1)
        XCTAssertEqual(histogram.counts, counts)
        // Bin edges: (b/n, (b+1)/n]; 0 and NaN in the first bin, 1 (and above) in the last.
        XCTAssertEqual([0, 0.05, 0.0500001, 0.999, 1, 1.5, .nan].map { ScoreHistogram.bin(of: $0, count: 20) }, [0, 0, 1, 19, 19, 19, 0])
    }

    func testFileRoundTripsWithNullsForEmptyBins() throws {
        var tally = ClassificationTally()
        tally.add(logits: [0, 2], classes: 2, labels: [1])
        let details = EvaluationDetails(step: 40, epoch: 2, reliability: EvaluationDetails.reliability(of: tally),
                                        histograms: [ScoreHistogram(name: EvaluationDetails.inDistribution), ScoreHistogram(name: "gaussian")])
        XCTAssertTrue(details.json.hasPrefix(#"{"step":40,"epoch":2.0,"reliability":{"count":[0.0,"#), details.json)
        XCTAssertTrue(details.json.contains(#""confidence":[null,"#), details.json)
        let back = try XCTUnwrap(EvaluationDetails(json: details.json))
        XCTAssertEqual(back.step, 40)
        XCTAssertEqual(back.histograms.map(\.name), ["in_distribution", "gaussian"])
        XCTAssertEqual(back.reliability.map(\.count), details.reliability.map(\.count))
        XCTAssertTrue(back.reliability[0].confidence.isNaN)
        // (Foundation's JSON parser on Linux may round the last digit.)
        XCTAssertEqual(back.reliability[13].confidence, details.reliability[13].confidence, accuracy: 1e-15)
        XCTAssertNil(EvaluationDetails(json: "{}"))
    }

    /// A run folder: a train and an eval record at `step`, and details for `detailsStep`.
    private func runFolder(_ name: String, step: Int, detailsStep: Int?, top1: Double) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("details-\(UUID().uuidString)/\(name)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let log = try MetricsLog(url: folder.appendingPathComponent("metrics.jsonl"))
        try log.append(MetricsRecord(kind: .train, step: step, epoch: 1, values: [MetricName.loss: 1.5]))
        try log.append(MetricsRecord(kind: .eval, step: step, epoch: 1, values: [MetricName.top1: top1, MetricName.ece: 0.1]))
        if let detailsStep {
            var tally = ClassificationTally()
            tally.add(logits: [0, 0, 1, 0, 1, 0, 0, 2], classes: 2, labels: [0, 0, 1, 1])
            var inside = ScoreHistogram(name: EvaluationDetails.inDistribution), noise = ScoreHistogram(name: "gaussian")
            inside.add([0.5, 0.9, 0.95, 0.99])
            noise.add([0.3, 0.4, 0.5])
            try EvaluationDetails(step: detailsStep, epoch: 1, reliability: EvaluationDetails.reliability(of: tally),
                                  histograms: [inside, noise]).write(toRunFolder: folder)
        }
        return folder
    }

    func testRunReportShowsTheDetailsOfALoggedEvaluationOnly() throws {
        let run = try runFolder("run", step: 10, detailsStep: 10, top1: 0.5)
        let html = try String(contentsOf: RunReport.write(runFolder: run), encoding: .utf8)
        XCTAssertTrue(html.contains("<h2>Calibration and OOD scores</h2>"))
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 3 + 2, "3 curves, the reliability diagram, 1 histogram")
        XCTAssertEqual(html.components(separatedBy: "class=\"bar\"").count - 1, 3, "a bar per non-empty bin")
        XCTAssertTrue(html.contains("in-distribution vs gaussian"))
        XCTAssertFalse(html.contains("nan"), "no NaN coordinates")

        // Details of an evaluation the log no longer holds (resumed from an earlier checkpoint): left out.
        let stale = try runFolder("stale", step: 10, detailsStep: 20, top1: 0.5)
        let staleHTML = try String(contentsOf: RunReport.write(runFolder: stale), encoding: .utf8)
        XCTAssertFalse(staleHTML.contains("Calibration and OOD scores"))
        XCTAssertEqual(staleHTML.components(separatedBy: "<svg ").count - 1, 3)
    }

    func testComparisonPageOverlaysTheRunsAndMarksTheBest() throws {
        let first = try runFolder("erm", step: 10, detailsStep: 10, top1: 0.5)
        let second = try runFolder("multimix", step: 12, detailsStep: nil, top1: 0.75)
        let twin = try runFolder("erm", step: 12, detailsStep: nil, top1: 0.25)   // same name, other parent
        let runs = try ComparisonReport.read([first, second, twin])
        XCTAssertEqual(runs.map(\.label), [first.path, "multimix", twin.path], "paths where names clash")
        XCTAssertNotNil(runs[0].details)
        let html = ComparisonReport.html(runs)
        XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 2 + 2, "loss, top-1, and the first run's details")
        XCTAssertEqual(html.components(separatedBy: "<polyline ").count - 1, 2 * 3, "a line per run in each plot")
        XCTAssertTrue(html.contains("<tr><td>top1</td><td class=\"value\">0.5</td><td class=\"value\"><b>0.75</b></td><td class=\"value\">0.25</td></tr>"), html)
        XCTAssertTrue(html.contains("<tr><td>steps</td><td class=\"value\">10</td><td class=\"value\">12</td>"), html)
        XCTAssertEqual(ComparisonReport.html(runs), html, "no timestamp: same folders, same bytes")
        // The top-1 plot names the runs' evaluation split where they share one (these folders have no
        // config.yaml: unknown, so neither).
        XCTAssertTrue(html.contains(">Top-1</text>"), html)
        var validation = runs
        for index in validation.indices { validation[index].split = .validation }
        XCTAssertTrue(ComparisonReport.html(validation).contains(">Validation top-1</text>"))
        validation[0].split = .test
        XCTAssertTrue(ComparisonReport.html(validation).contains(">Top-1</text>"), "runs on different splits")
    }
}
