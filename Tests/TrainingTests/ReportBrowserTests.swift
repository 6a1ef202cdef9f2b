import Evaluation
import Foundation
import RunOutputs
import Studies
import TestSupport
import Training
import XCTest

/// Every HTML page the project writes, looked at in a real headless browser (``Browser``): a run's
/// `report.html` (a real 2-rank run with noise OOD sets), the `multimix report` page comparing two
/// runs, and a study's `report.html`. For each: a screenshot, no console message or script error,
/// and every `<svg>` plot has its points (marks with finite coordinates).
///
/// The screenshots stay in `.build/report-screenshots/` to look at.
final class ReportBrowserTests: XCTestCase {
    let multimix = MPIRun.executable("multimix")
    static let screenshots = Repository.root.appendingPathComponent(".build/report-screenshots")
    var folder: URL!

    override func setUpWithError() throws {
        _ = try Browser.require()
        folder = try Repository.runFolderWithFashionMNIST(prefix: "browser")
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// A tiny run (TrainerRunTests' size), evaluated every epoch against 200 Gaussian and 200 uniform noise images.
    func train(_ name: String, method: String, epochs: Int, subset: Int) throws -> URL {
        let config = folder.appendingPathComponent("\(name).yaml")
        try """
            name: \(name)
            seed: 7
            data: {dataset: fashion-mnist, root: /usr/share/datasets/fashion-mnist, train_subset: \(subset), augment: {crop_padding: 0, horizontal_flip: false}}
            model: {name: resnet20, width: 0.25}
            mixing: {method: \(method), n: 64, alpha: [0.5, 2.0], probability: 1.0}
            optimizer: {lr: 0.05, momentum: 0.9, weight_decay: 0.0001}
            schedule: {kind: cosine}
            training: {epochs: \(epochs), batch_size: 32, threads: 1, log_every_steps: 2}
            distributed: {check_every_steps: 10, stall_timeout_s: 60}
            eval: {every_epochs: 1, noise_ood_images: 200}
            checkpoint: {every_epochs: 100, keep: 1}

            """.write(to: config, atomically: true, encoding: .utf8)
        let run = folder.appendingPathComponent(name)
        let result = try MPIRun.run(ranks: 2, program: multimix, arguments: ["train", "--config", config.path, "--run-dir", run.path],
                                    timeout: 240, environment: ["MULTIMIX_PROGRESS": "lines"])
        XCTAssertEqual(result.status, 0, result.output)
        return run
    }

    /// Loads `page`, saves its screenshot as `name`.png, and checks it (``problems(_:svgCount:)``).
    func check(_ page: URL, name: String, svgCount: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let loaded = try Browser.load(page, screenshot: Self.screenshots.appendingPathComponent("\(name).png"))
        XCTAssertEqual(problems(loaded, svgCount: svgCount), [], name, file: file, line: line)
    }

    /// What is wrong with a loaded page: console messages or script errors, a blank screenshot, not
    /// `svgCount` plots, a plot without marks (circles, polylines, paths, bars), a NaN or infinite
    /// coordinate, a dot outside its plot area (the frame).
    func problems(_ loaded: Browser.Page, svgCount: Int) -> [String] {
        var problems = loaded.consoleMessages.map { "console: \($0)" }
        let size = (try? FileManager.default.attributesOfItem(atPath: loaded.screenshot.path)[.size] as? Int) ?? 0
        if size < 20_000 { problems.append("a screenshot of \(size) bytes: a blank page?") }
        let plots = loaded.dom.components(separatedBy: "<svg").dropFirst().map { $0.components(separatedBy: "</svg>")[0] }
        if plots.count != svgCount { problems.append("\(plots.count) plots, not \(svgCount)") }
        for (index, plot) in plots.enumerated() {
            let title = plot.components(separatedBy: "class=\"title\">").dropFirst().first?.components(separatedBy: "<")[0] ?? "plot \(index)"
            let marks = ["<circle", "<polyline", "<path", "class=\"bar\""].map { plot.components(separatedBy: $0).count - 1 }.reduce(0, +)
            if marks == 0 { problems.append("'\(title)' has no points") }
            if plot.range(of: #"="[^"]*\b(nan|inf)\b"#, options: [.regularExpression, .caseInsensitive]) != nil {
                problems.append("'\(title)' has a non-finite coordinate")
            }
            guard let frame = numbers(in: plot, #"<rect x="([-0-9.]+)" y="([-0-9.]+)" width="([-0-9.]+)" height="([-0-9.]+)" class="frame""#).first else {
                problems.append("'\(title)' has no frame")
                continue
            }
            let outside = numbers(in: plot, #"<circle cx="([-0-9.]+)" cy="([-0-9.]+)""#).filter { dot in
                dot[0] < frame[0] - 0.5 || dot[0] > frame[0] + frame[2] + 0.5 || dot[1] < frame[1] - 0.5 || dot[1] > frame[1] + frame[3] + 0.5
            }
            if !outside.isEmpty { problems.append("'\(title)' has dots outside its plot area: \(outside.prefix(3))") }
        }
        return problems
    }

    /// The numbers captured by `pattern`'s groups, per match.
    func numbers(in text: String, _ pattern: String) -> [[Double]] {
        let expression = try! NSRegularExpression(pattern: pattern)
        return expression.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { match in
            (1..<match.numberOfRanges).map { Double(text[Range(match.range(at: $0), in: text)!]) ?? .nan }
        }
    }

    /// The checks find what they look for: a script error, a plot with no points, a dot off the plot.
    func testTheChecksCatchABrokenPage() throws {
        let page = folder.appendingPathComponent("broken.html")
        let frame = "<rect x=\"10\" y=\"10\" width=\"100\" height=\"100\" class=\"frame\"/>"
        try """
            <!DOCTYPE html>
            <html><body><script>undefinedFunction();</script>
            <svg width="200" height="200"><text class="title">empty</text>\(frame)</svg>
            <svg width="200" height="200"><text class="title">off</text>\(frame)<circle cx="50" cy="5" r="2"/></svg>
            </body></html>
            """.write(to: page, atomically: true, encoding: .utf8)
        let loaded = try Browser.load(page, screenshot: folder.appendingPathComponent("broken.png"), width: 300, height: 300)
        let found = problems(loaded, svgCount: 2)
        XCTAssertTrue(found.contains { $0.contains("Uncaught ReferenceError: undefinedFunction") }, "\(found)")
        XCTAssertTrue(found.contains("'empty' has no points"), "\(found)")
        XCTAssertTrue(found.contains("'off' has dots outside its plot area: [[50.0, 5.0]]"), "\(found)")
    }

    func testRunReportComparisonAndStudyPagesRenderWithTheirPoints() throws {
        let erm = try train("erm", method: "erm", epochs: 3, subset: 1024)
        let multimixRun = try train("multimix", method: "multimix", epochs: 2, subset: 512)

        // The details behind the plots, counts summed over the 2 ranks: every test image (Fashion-MNIST
        // has 10,000) in the reliability bins and the histogram, every noise image in its histogram.
        let details = try XCTUnwrap(EvaluationDetails.read(runFolder: erm))
        XCTAssertEqual(details.step, try MetricsLog.read(erm.appendingPathComponent("metrics.jsonl")).last { $0.kind == .eval }?.step)
        XCTAssertEqual(details.reliability.reduce(0) { $0 + $1.count }, 10_000)
        XCTAssertEqual(details.histograms.map(\.name), [EvaluationDetails.inDistribution, "gaussian", "uniform"])
        XCTAssertEqual(details.histograms.map { $0.counts.reduce(0, +) }, [10_000, 200, 200])

        // 3 curves, the reliability diagram, in-distribution against each of the 2 noise sets.
        try check(erm.appendingPathComponent("report.html"), name: "run-report", svgCount: 3 + 1 + 2)

        let comparison = folder.appendingPathComponent("comparison.html")
        let report = try MPIRun.launch([multimix, "report", erm.path, multimixRun.path, "--out", comparison.path], timeout: 60)
        XCTAssertEqual(report.status, 0, report.output)
        // Loss and top-1, then each run's 3 details plots.
        try check(comparison, name: "comparison", svgCount: 2 + 2 * 3)

        let results = StudyResults(name: "browser", variants: ["erm", "multimix"], seeds: [0, 1], runs: [
            .init(variant: "erm", seed: 0, evaluations: try MetricsLog.read(erm.appendingPathComponent("metrics.jsonl")).filter { $0.kind == .eval }),
            .init(variant: "erm", seed: 1, evaluations: [MetricsRecord(kind: .eval, step: 96, epoch: 3, values: [MetricName.top1: 0.6, MetricName.ece: 0.1, MetricName.nll: 1.1])]),
            .init(variant: "multimix", seed: 0, evaluations: try MetricsLog.read(multimixRun.appendingPathComponent("metrics.jsonl")).filter { $0.kind == .eval }),
        ], baselines: ["erm"], classCount: 10)
        let study = try StudyReport.write(results, to: folder)
        // Top-1 against epochs, then a bar chart per charted metric: top1, ece, nll, 2 AUROCs, 3 alignments
        // (normalised, raw, scale-free), 3 uniformities; the paired tables are tables.
        try check(study, name: "study-report", svgCount: 1 + 11)
        XCTAssertTrue(try String(contentsOf: study, encoding: .utf8).contains("Paired differences against erm"))
    }
}
