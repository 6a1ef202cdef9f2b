import Checkpointing
import Foundation
import RunOutputs
import Studies
import TestSupport
import Training
import XCTest

/// The study's aggregation against hand computations, on hand-written metrics.jsonl files.
final class StudyResultsTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("study-results-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// A run with one final evaluation of `values` at epoch 10.
    func run(_ variant: String, _ seed: Int, _ values: [String: Double]) -> StudyResults.Run {
        StudyResults.Run(variant: variant, seed: seed, evaluations: [MetricsRecord(kind: .eval, step: 100, epoch: 10, values: values)])
    }

    func testMeanAndSampleStandardDeviationMatchAHandComputation() throws {
        // mean = (0.5 + 0.7 + 0.9) / 3 = 0.7; std = √((0.04 + 0 + 0.04) / 2) = 0.2
        let summary = try XCTUnwrap(StudyResults.summarise([0.5, 0.7, 0.9]))
        XCTAssertEqual(summary.mean, 0.7, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(summary.std), 0.2, accuracy: 1e-12)
        XCTAssertEqual(summary.count, 3)
        XCTAssertNil(StudyResults.summarise([0.4])?.std, "one seed has no sample std")
        XCTAssertNil(StudyResults.summarise([]))

        let results = StudyResults(name: "s", variants: ["a", "b"], seeds: [0, 1, 2],
                                   runs: [run("a", 0, ["top1": 0.5]), run("a", 1, ["top1": 0.7]), run("a", 2, ["top1": 0.9]),
                                          run("b", 0, ["top1": 0.6])])
        XCTAssertEqual(results.table().rows.map { $0.map(\.text) }, [["a", "3", "0.7000 ± 0.2000"], ["b", "1", "0.6000 ± –"]])
    }

    /// Higher is better for top1, top5, *auroc, *aupr_in, *aupr_out; lower for nll, ece, alignment*,
    /// uniformity*; other columns are not marked.
    func testDirectionTable() {
        for name in ["top1", "top5", "ood_auroc", "auroc", "ood_aupr_in", "svhn_aupr_out"] {
            XCTAssertEqual(StudyResults.direction(of: name), .higherIsBetter, name)
        }
        for name in ["nll", "ece", "alignment", "alignment_raw", "uniformity", "uniformity_raw"] {
            XCTAssertEqual(StudyResults.direction(of: name), .lowerIsBetter, name)
        }
        for name in ["loss", "images_per_s", "top1_clean", "mean_confidence"] {
            XCTAssertNil(StudyResults.direction(of: name), name)
        }
    }

    func testBestVariantIsMarkedPerDirection() {
        let results = StudyResults(name: "s", variants: ["erm", "mm", "dense"], seeds: [0], runs: [
            run("erm", 0, ["top1": 0.80, "ece": 0.05, "alignment_raw": 1.2, "ood_auroc": 0.70, "custom": 9]),
            run("mm", 0, ["top1": 0.85, "ece": 0.07, "alignment_raw": 0.9, "ood_auroc": 0.75, "custom": 1]),
            run("dense", 0, ["top1": 0.85, "ece": 0.09, "alignment_raw": 1.0, "ood_auroc": 0.60, "custom": 5]),
        ])
        XCTAssertEqual(results.best(metric: "top1"), ["mm", "dense"], "a tie marks both")
        XCTAssertEqual(results.best(metric: "ece"), ["erm"])
        XCTAssertEqual(results.best(metric: "alignment_raw"), ["mm"])
        XCTAssertEqual(results.best(metric: "ood_auroc"), ["mm"])
        XCTAssertEqual(results.best(metric: "custom"), [], "no known direction: not marked")
        let markdown = results.markdown()
        XCTAssertTrue(markdown.contains("| variant | runs | alignment_raw | custom | ece | ood_auroc | top1 |"), markdown)
        XCTAssertTrue(markdown.contains("| erm | 1 | 1.2000 ± – | 9.0000 ± – | **0.0500 ± –** | 0.7000 ± – | 0.8000 ± – |"), markdown)
        XCTAssertTrue(markdown.contains("| mm | 1 | **0.9000 ± –** | 1.0000 ± – | 0.0700 ± – | **0.7500 ± –** | **0.8500 ± –** |"), markdown)
        XCTAssertTrue(markdown.contains("Seeds 0; 3 of 3 runs (3 variants × 1 seed)."), markdown)
        XCTAssertEqual(StudyResults(name: "s", variants: ["a"], seeds: [0], runs: [run("a", 0, ["top1": 1])]).best(metric: "top1"), [],
                       "a single variant is not marked best")
    }

    /// Columns are the union of every run's final metrics, sorted; a run without one has an empty cell.
    func testColumnsAreTheUnionAndMissingValuesAreEmpty() {
        let results = StudyResults(name: "s", variants: ["a", "b"], seeds: [0], runs: [
            run("a", 0, ["top1": 0.5, "ood_auroc": 0.75]), run("b", 0, ["top1": 0.25, "nll": .nan]),
        ])
        XCTAssertEqual(results.metrics, ["nll", "ood_auroc", "top1"])
        XCTAssertEqual(results.csv(), "variant,seed,epoch,nll,ood_auroc,top1,wall_seconds,cpu\na,0,10,,0.75,0.5,,\nb,0,10,nan,,0.25,,\n")
        XCTAssertEqual(results.table().rows[0].map(\.text), ["a", "1", "", "0.7500 ± –", "0.5000 ± –"])
        XCTAssertEqual(results.table().rows[1].map(\.text), ["b", "1", "n/a ± –", "", "0.2500 ± –"])
    }

    /// Metric names come from metrics.jsonl, which anyone may write: in results.csv a name that a
    /// spreadsheet would run as a formula stays text (negative numbers stay numbers); in results.md a
    /// `|`, a line break or HTML cannot break the table or reach the page.
    func testHostileMetricNamesStayText() {
        let hostile = "=HYPERLINK(\"http://x\",\"y\")", broken = "a|b\n<script>alert(1)</script>"
        let results = StudyResults(name: "s", variants: ["a"], seeds: [0], runs: [run("a", 0, [hostile: -0.5, broken: 1, "@sum": 2])])
        let csv = results.csv()
        XCTAssertTrue(csv.hasPrefix("variant,seed,epoch,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'@sum,\"a|b\n<script>alert(1)</script>\",wall_seconds,cpu\n"), csv)
        XCTAssertTrue(csv.hasSuffix("a,0,10,-0.5,2.0,1.0,,\n"), csv)
        let markdown = results.markdown()
        let header = markdown.split(separator: "\n")[1]
        XCTAssertEqual(header, "| variant | runs | =HYPERLINK(&quot;http://x&quot;,&quot;y&quot;) | @sum | a\\|b &lt;script&gt;alert(1)&lt;/script&gt; |")
        XCTAssertFalse(markdown.contains("<script>"))
        XCTAssertEqual(markdown.split(separator: "\n")[3].filter { $0 == "|" }.count, header.filter { $0 == "|" }.count - 1, "one | escaped")
    }

    /// From run folders: the last eval record is final (train lines ignored), a torn last line is
    /// tolerated, a run without metrics is missing, one without finished.json unfinished.
    func testReadTakesTheLastEvaluationAndToleratesATornLastLine() throws {
        try "name: base\n".write(to: folder.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        let study = try StudyConfig.parse(yaml: "name: s\nbase: base.yaml\nseeds: [0, 1]\nvariants: [{name: a}]\n",
                                          source: "s.yaml", folder: folder)
        let studyFolder = study.folder(root: folder.appendingPathComponent("runs"))
        let first = studyFolder.appendingPathComponent("a-s00")
        try FileManager.default.createDirectory(at: first, withIntermediateDirectories: true)
        try """
            {"kind":"train","step":2,"epoch":0.5,"loss":2.3,"lr":0.1}
            {"kind":"eval","step":4,"epoch":1,"top1":0.5,"ece":0.2}
            {"kind":"train","step":6,"epoch":1.5,"loss":1.9,"lr":0.05}
            {"kind":"eval","step":8,"epoch":2,"top1":0.75,"ece":0.1}
            {"kind":"eval","step":10,"ep
            """.write(to: first.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        try FinishedMarker(configHash: "x", epoch: 2, step: 8, wallSeconds: 12.5, worldSize: 2, cpu: "Xeon, 2 cores (avx512f)").write(runFolder: first)

        let results = try StudyResults.read(study, folder: studyFolder)
        XCTAssertEqual(results.runs.count, 1)
        XCTAssertEqual(results.runs[0].evaluations.map(\.epoch), [1, 2])
        XCTAssertEqual(results.runs[0].final, ["top1": 0.75, "ece": 0.1])
        XCTAssertEqual(results.missing, ["a-s01"])
        XCTAssertEqual(results.unfinished, [])
        XCTAssertEqual(results.csv(), "variant,seed,epoch,ece,top1,wall_seconds,cpu\na,0,2,0.1,0.75,12.5,\"Xeon, 2 cores (avx512f)\"\n")
        // A marker written before `cpu` was kept still reads, without one.
        let older = #"{"config_hash":"x","epoch":2,"step":8,"wall_seconds":12.5,"world_size":2}"#
        XCTAssertNil(try JSONDecoder().decode(FinishedMarker.self, from: Data(older.utf8)).cpu)
        XCTAssertTrue(results.markdown().contains("Missing (no evaluation in metrics.jsonl): a-s01."), results.markdown())
    }

    /// report.html: self-contained, the top-1 curve with its seed band, a bar chart per charted
    /// metric, and the table.
    func testReportIsSelfContainedWithCurveBarsAndTable() throws {
        func evaluations(_ top1: [Double]) -> [MetricsRecord] {
            top1.enumerated().map { MetricsRecord(kind: .eval, step: $0.offset, epoch: Double($0.offset + 1),
                                                  values: ["top1": $0.element, "ece": 0.1, "alignment_raw": 0.5, "ood_auroc": 0.7, "custom": 1]) }
        }
        let results = StudyResults(name: "s<1>", variants: ["erm", "mm"], seeds: [0, 1], runs: [
            .init(variant: "erm", seed: 0, evaluations: evaluations([0.2, 0.4])),
            .init(variant: "erm", seed: 1, evaluations: evaluations([0.3, 0.6])),
            .init(variant: "mm", seed: 0, evaluations: evaluations([0.25, 0.7])),
        ])
        let page = StudyReport.html(results, studyYAML: "name: s\n")
        XCTAssertFalse(page.contains("<script"))
        XCTAssertFalse(page.contains("href=") || page.contains("src="), "no external resources")
        XCTAssertTrue(page.contains("<h1>Study s&lt;1&gt;</h1>"))
        XCTAssertEqual(page.components(separatedBy: "<svg").count - 1, 5, "the curve, and bars for top1, ece, ood_auroc, alignment_raw")
        XCTAssertEqual(page.components(separatedBy: "class=\"band\"").count - 1, 1, "a band where a variant has two seeds")
        XCTAssertTrue(page.contains("aria-label=\"alignment_raw\""))
        XCTAssertFalse(page.contains("aria-label=\"custom\""))
        XCTAssertEqual(page.components(separatedBy: "class=\"whisker\"").count - 1, 4, "erm's four bars have whiskers; mm has one seed")
        XCTAssertTrue(page.contains("<td>erm</td><td class=\"value\">2</td>"), page)
        XCTAssertTrue(page.contains("<pre>name: s\n</pre>"))
        XCTAssertTrue(page.contains("<h2>Test top-1 against epochs</h2>"), page)
        // A study that keeps the test split sealed (final_test) plots its validation evaluations: so says
        // the page, and the top-1 plot for a README.
        var validation = results
        validation.evaluationSplit = .validation
        XCTAssertTrue(StudyReport.html(validation).contains("<h2>Validation top-1 against epochs</h2>"))
        try StudyReport.write(validation, to: folder)
        let plot = try String(contentsOf: folder.appendingPathComponent("top1.svg"), encoding: .utf8)
        XCTAssertTrue(plot.contains("Validation top-1 (mean over seeds"), plot)
        XCTAssertFalse(StudyReport.html(validation).contains("Test top-1"))
    }

    /// Paired differences against `compare_to`, by hand: d = (0.63 − 0.60, 0.66 − 0.62, 0.65 − 0.64) =
    /// (0.03, 0.04, 0.01); d̄ = 0.08/3 = 0.026667; s_d = √(((0.03 − d̄)² + (0.04 − d̄)² + (0.01 − d̄)²)/2)
    /// = √(4.6667·10⁻⁴/2) = 0.015275; t₀.₉₇₅(2) = 4.303; half-width 4.302653 · 0.015275/√3 = 0.037946;
    /// interval [−0.011279, 0.064612]: it holds 0, though every seed is positive.
    func testPairedDifferencesAndTheirTIntervalMatchAHandComputation() throws {
        let results = StudyResults(name: "s", variants: ["erm", "mm", "one"], seeds: [0, 1, 2], runs: [
            run("erm", 0, ["top1": 0.60]), run("erm", 1, ["top1": 0.62]), run("erm", 2, ["top1": 0.64]),
            run("mm", 0, ["top1": 0.63]), run("mm", 1, ["top1": 0.66]), run("mm", 2, ["top1": 0.65]),
            run("one", 1, ["top1": 0.70]),
        ], baselines: ["erm"])
        let paired = try XCTUnwrap(results.paired(variant: "mm", metric: "top1"))
        XCTAssertEqual(paired.seeds, [0, 1, 2])
        for (d, expected) in zip(paired.differences, [0.03, 0.04, 0.01]) { XCTAssertEqual(d, expected, accuracy: 1e-12) }
        XCTAssertEqual(paired.mean, 0.08 / 3, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(paired.std), 0.015275252, accuracy: 1e-9)
        let interval = try XCTUnwrap(paired.interval)
        XCTAssertEqual(interval.low, -0.011279166, accuracy: 1e-8)
        XCTAssertEqual(interval.high, 0.064612499, accuracy: 1e-8)
        // One shared seed: a difference, no interval. The baseline has no difference from itself.
        let one = try XCTUnwrap(results.paired(variant: "one", metric: "top1"))
        XCTAssertEqual(one.seeds, [1])
        XCTAssertEqual(one.mean, 0.08, accuracy: 1e-12)
        XCTAssertNil(one.interval)
        XCTAssertNil(results.paired(variant: "erm", metric: "top1"))
        XCTAssertNil(StudyResults(name: "s", variants: ["erm", "mm"], seeds: [0], runs: []).paired(variant: "mm", metric: "top1"))

        XCTAssertEqual(results.pairedTable()?.rows.map { $0.map(\.text) },
                       [["mm", "+0.0267 [-0.0113, +0.0646]"], ["one", "+0.0800 [–]"]])
        XCTAssertEqual(results.pairedSeedTable()?.rows.map { $0.map(\.text) }, [
            ["mm", "0", "+0.0300"], ["mm", "1", "+0.0400"], ["mm", "2", "+0.0100"],
            ["one", "1", "+0.0800"],
        ])
        let markdown = results.markdown()
        XCTAssertTrue(markdown.contains("## Paired differences against erm"))
        XCTAssertTrue(markdown.contains("| mm | +0.0267 [-0.0113, +0.0646] |"))
        XCTAssertTrue(markdown.contains("| mm | 2 | +0.0100 |"))
        let csv = results.csv().split(separator: "\n").map(String.init)
        XCTAssertEqual(csv[0], "variant,seed,epoch,top1,wall_seconds,cpu,d_top1")
        XCTAssertEqual(csv[1], "erm,0,10,0.6,,,")
        XCTAssertTrue(csv[4].hasPrefix("mm,0,10,0.63,,,0.03"))
        XCTAssertEqual(csv.count, 1 + 7 + 2 * 3)
        XCTAssertTrue(csv[8].hasPrefix("mm,mean,,,,,0.02666"))
        XCTAssertTrue(csv[9].hasPrefix("mm,ci95_low,,,,,-0.01127916"))
        XCTAssertTrue(csv[10].hasPrefix("mm,ci95_high,,,,,0.06461249"))
        XCTAssertEqual(csv[12], "one,ci95_low,,,,,")
        XCTAssertTrue(StudyReport.html(results).contains("Paired differences against erm"))
    }

    /// A study stopped half-way: a compared variant with no run yet (or none paired with the
    /// baseline's seeds) gets no `mean` / `ci95_*` rows, instead of three empty ones.
    func testAVariantWithoutAPairHasNoSummaryRows() {
        let results = StudyResults(name: "s", variants: ["erm", "mm", "later", "unpaired"], seeds: [0, 1], runs: [
            run("erm", 0, ["top1": 0.60]), run("mm", 0, ["top1": 0.63]), run("unpaired", 1, ["top1": 0.5]),
        ], baselines: ["erm"])
        let rows = results.csv().split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.filter { $0.hasPrefix("mm,mean,") || $0.hasPrefix("mm,ci95_") }.count, 3, rows.joined(separator: "\n"))
        XCTAssertFalse(rows.contains { $0.hasPrefix("later,") || $0.hasPrefix("unpaired,mean") || $0.hasPrefix("unpaired,ci95") },
                       rows.joined(separator: "\n"))
        XCTAssertEqual(rows.count, 1 + 3 + 3)
    }

    /// Two baselines (`compare_to: [erm, mixup]`): a paired section per baseline, and in the CSV the
    /// first's plain `d_` columns, the second's `d_METRIC_vs_mixup`. By hand against mixup:
    /// mm − mixup = (0.63 − 0.61, 0.66 − 0.65) = (0.02, 0.01), d̄ = 0.015, s_d = 0.0070711,
    /// half-width 12.706205 · 0.0070711/√2 = 0.063531.
    func testSeveralBaselinesEachGetTheirPairedDifferences() throws {
        let results = StudyResults(name: "s", variants: ["erm", "mixup", "mm"], seeds: [0, 1], runs: [
            run("erm", 0, ["top1": 0.60]), run("erm", 1, ["top1": 0.62]),
            run("mixup", 0, ["top1": 0.61]), run("mixup", 1, ["top1": 0.65]),
            run("mm", 0, ["top1": 0.63]), run("mm", 1, ["top1": 0.66]),
        ], baselines: ["erm", "mixup"])
        let paired = try XCTUnwrap(results.paired(variant: "mm", metric: "top1", against: "mixup"))
        XCTAssertEqual(paired.mean, 0.015, accuracy: 1e-12)
        let interval = try XCTUnwrap(paired.interval)
        XCTAssertEqual(interval.low, 0.015 - 0.0635310, accuracy: 1e-6)
        XCTAssertEqual(interval.high, 0.015 + 0.0635310, accuracy: 1e-6)
        XCTAssertEqual(results.paired(variant: "mm", metric: "top1")?.mean ?? 0, 0.035, accuracy: 1e-12, "the first baseline by default")
        XCTAssertEqual(results.pairedTable(against: "mixup")?.rows.map { $0[0].text }, ["erm", "mm"])
        let markdown = results.markdown()
        XCTAssertTrue(markdown.contains("## Paired differences against erm"), markdown)
        XCTAssertTrue(markdown.contains("## Paired differences against mixup"), markdown)
        XCTAssertTrue(markdown.contains("| erm | -0.0200 [-0.1471, +0.1071] |"), markdown)
        let csv = results.csv().split(separator: "\n").map(String.init)
        XCTAssertEqual(csv[0], "variant,seed,epoch,top1,wall_seconds,cpu,d_top1,d_top1_vs_mixup")
        XCTAssertTrue(csv[5].hasPrefix("mm,0,10,0.63,,,0.03"), csv[5])
        XCTAssertTrue(csv[5].hasSuffix(",0.020000000000000018") || csv[5].hasSuffix(",0.02"), csv[5])
        XCTAssertEqual(csv.count, 1 + 6 + 3 * 3, "mean and interval rows for every variant compared with some baseline")
        XCTAssertTrue(csv[7].hasPrefix("erm,mean,,,,,,-0.02"), csv[7])
        XCTAssertTrue(StudyReport.html(results).contains("Paired differences against mixup"))
    }

    /// `final_test`: the test split's tables only when every planned run has finished with a
    /// test.json; then each run's test metrics stand in for its evaluations.
    func testTheTestSplitIsSealedUntilEveryRunHasIt() throws {
        func tested(_ variant: String, _ seed: Int, _ top1: Double?) -> StudyResults.Run {
            var run = run(variant, seed, ["top1": 0.5])
            run.finished = FinishedMarker(configHash: "h", epoch: 10, step: 100, wallSeconds: 1, worldSize: 2)
            run.test = top1.map { TestSplitResult(step: 100, epoch: 10, metrics: ["top1": $0]) }
            return run
        }
        let partial = StudyResults(name: "s", variants: ["erm", "mm"], seeds: [0], runs: [tested("erm", 0, 0.7), tested("mm", 0, nil)],
                                   baselines: ["erm"])
        XCTAssertNil(partial.testSplitResults())
        XCTAssertEqual(partial.testedRunCount, 1)
        let missingRun = StudyResults(name: "s", variants: ["erm", "mm"], seeds: [0], runs: [tested("erm", 0, 0.7)], missing: ["mm-s00"])
        XCTAssertNil(missingRun.testSplitResults())
        var unfinished = tested("mm", 0, 0.8)
        unfinished.finished = nil
        XCTAssertNil(StudyResults(name: "s", variants: ["erm", "mm"], seeds: [0], runs: [tested("erm", 0, 0.7), unfinished]).testSplitResults())
        let complete = StudyResults(name: "s", variants: ["erm", "mm"], seeds: [0], runs: [tested("erm", 0, 0.7), tested("mm", 0, 0.8)],
                                    baselines: ["erm"], evaluationSplit: .validation)
        let test = try XCTUnwrap(complete.testSplitResults())
        XCTAssertEqual(test.evaluationSplit, .test)
        XCTAssertEqual(test.summary(variant: "mm", metric: "top1")?.mean, 0.8)
        XCTAssertEqual(test.paired(variant: "mm", metric: "top1")?.mean ?? 0, 0.1, accuracy: 1e-12)
        XCTAssertTrue(test.markdown().hasPrefix("# Study s (test split)"))
    }

    /// test.json round-trips, a non-finite metric as null; a damaged one is an error naming the file.
    func testTestSplitResultFile() throws {
        let result = TestSplitResult(step: 7, epoch: 1, metrics: ["top1": 0.25, "ece": .nan])
        try result.write(runFolder: folder)
        let text = try String(contentsOf: folder.appendingPathComponent("test.json"), encoding: .utf8)
        XCTAssertEqual(text, "{\"epoch\":1,\"metrics\":{\"ece\":null,\"top1\":0.25},\"step\":7}\n")
        let back = try XCTUnwrap(TestSplitResult.read(runFolder: folder))
        XCTAssertEqual(back.step, 7)
        XCTAssertTrue(back.metrics["ece"]!.isNaN)
        XCTAssertNil(try TestSplitResult.read(runFolder: folder.appendingPathComponent("none")))
        try "[1, 2]".write(to: folder.appendingPathComponent("test.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TestSplitResult.read(runFolder: folder)) { error in
            XCTAssertEqual("\(error)", "\(folder.path)/test.json: is not a test.json (step, epoch, metrics); "
                           + "delete it and run the study again: the run's final checkpoint is evaluated anew")
        }
    }

    /// python/plot_paired_curve.py (the data-size curve's figure) against a hand computation: at x =
    /// 1000, mm − erm on top1 = (0.05, 0.04, 0.03): d̄ = 0.04, s_d = 0.01, half-width 4.302653 · 0.01/√3
    /// = 0.024841; the points are ordered by x whatever the order given; where the mean difference
    /// changes sign; a bad --point is one line; --out on a link is refused.
    func testPairedCurveScriptMatchesAHandComputation() throws {
        let table = folder.appendingPathComponent("results-test.csv")
        try """
            variant,seed,epoch,top1,ece,ood_auroc,wall_seconds
            erm-1k,0,500,0.40,0.10,0.60,1
            erm-1k,1,500,0.42,0.11,0.61,1
            erm-1k,2,500,0.41,0.12,0.59,1
            mm-1k,0,500,0.45,0.08,0.62,1
            mm-1k,1,500,0.46,0.09,0.64,1
            mm-1k,2,500,0.44,0.07,0.60,1
            mm-1k,mean,,,,,
            erm-20k,0,25,0.80,0.05,0.80,1
            erm-20k,1,25,0.81,0.05,0.81,1
            mm-20k,0,25,0.80,0.03,0.80,1
            mm-20k,1,25,0.805,0.03,0.82,1

            """.write(to: table, atomically: true, encoding: .utf8)
        let svg = folder.appendingPathComponent("curve.svg")
        let script = Repository.root.appendingPathComponent("python/plot_paired_curve.py").path
        let result = try MPIRun.launch(["python3", script, "--out", svg.path, "--x-label", "training images",
                                        "--point", "\(table.path):mm-20k:erm-20k:20000", "--point", "\(table.path):mm-1k:erm-1k:1000"], timeout: 60)
        XCTAssertEqual(result.status, 0, result.output)
        let rows = result.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(rows.first { $0.hasPrefix("top1\t1000\t") }, "top1\t1000\tmm-1k − erm-1k\t+0.0400\t[+0.0152, +0.0648]\t+0.0500 +0.0400 +0.0300")
        XCTAssertEqual(rows.first { $0.hasPrefix("ece\t20000\t") }, "ece\t20000\tmm-20k − erm-20k\t-0.0200\t[-0.0200, -0.0200]\t-0.0200 -0.0200")
        XCTAssertLessThan(try XCTUnwrap(rows.firstIndex { $0.hasPrefix("top1\t1000") }), try XCTUnwrap(rows.firstIndex { $0.hasPrefix("top1\t20000") }))
        // Where each mean difference changes sign: top1 +0.04 at 1000, −0.0025 at 20000: 0 at
        // log10 x = 3 + 0.04/0.0425 · log10(20) = 4.2245, x ≈ 16800; ece keeps its sign (−0.03, −0.02).
        XCTAssertTrue(rows.contains("top1: the mean difference changes sign between 1000 and 20000 (0 at about 1.68e+04 on a straight line in log x)"), result.output)
        XCTAssertTrue(rows.contains("ece: the mean difference is at or below 0 at every x (1000 to 20000)"), result.output)
        let picture = try String(contentsOf: svg, encoding: .utf8)
        XCTAssertTrue(picture.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""), picture)
        XCTAssertEqual(picture.components(separatedBy: "<circle").count - 1, 6, "2 points in each of 3 panels")
        let bad = try MPIRun.launch(["python3", script, "--out", svg.path, "--point", "\(table.path):mm-1k:erm-1k:0"], timeout: 60)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("X must be > 0 (the axis is logarithmic)"), bad.output)
        // --out on a planted link: refused, the link's target untouched.
        let victim = folder.appendingPathComponent("victim")
        try Data("precious\n".utf8).write(to: victim)
        let link = folder.appendingPathComponent("link.svg")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: victim)
        let linked = try MPIRun.launch(["python3", script, "--out", link.path, "--point", "\(table.path):mm-1k:erm-1k:1000"], timeout: 60)
        XCTAssertNotEqual(linked.status, 0)
        XCTAssertTrue(linked.output.contains("is a symbolic link; remove it or choose another path"), linked.output)
        XCTAssertEqual(try String(contentsOf: victim, encoding: .utf8), "precious\n")
    }

    /// t₀.₉₇₅(ν) against scipy.stats.t.ppf(0.975, ν).
    func testTQuantiles() {
        let exact: [(Int, Double)] = [(1, 12.706205), (2, 4.302653), (3, 3.182446), (9, 2.262157), (30, 2.042272),
                                      (31, 2.039513), (40, 2.021075), (60, 2.000298), (120, 1.979930), (1000, 1.962339)]
        for (nu, t) in exact { XCTAssertEqual(StudyResults.tQuantile975(degreesOfFreedom: nu), t, accuracy: 2e-6, "ν = \(nu)") }
    }

    /// A variant below twice chance (2/10 for 10 classes) is never best on ece, alignment*, uniformity*
    /// or noise OOD, however good its number there; it still is on top-1's other columns' rules.
    func testAVariantThatDidNotLearnIsNeverBestOnDegenerateMetrics() {
        let values: [String: [String: Double]] = [
            "erm": ["top1": 0.65, "ece": 0.035, "alignment_rms": 0.9, "uniformity_rms": -1.0, "ood_gaussian_auroc": 0.4, "ood_auroc": 0.67],
            "paper": ["top1": 0.11, "ece": 0.010, "alignment_rms": 0.1, "uniformity_rms": -3.0, "ood_gaussian_auroc": 0.6, "ood_auroc": 0.48],
            "mm": ["top1": 0.63, "ece": 0.023, "alignment_rms": 1.1, "uniformity_rms": -1.5, "ood_gaussian_auroc": 0.3, "ood_auroc": 0.66],
        ]
        let runs = ["erm", "paper", "mm"].map { run($0, 0, values[$0]!) }
        let results = StudyResults(name: "s", variants: ["erm", "paper", "mm"], seeds: [0], runs: runs, classCount: 10)
        XCTAssertTrue(results.didNotLearn("paper"))
        XCTAssertFalse(results.didNotLearn("mm"))
        XCTAssertEqual(results.best(metric: "ece"), ["mm"])
        XCTAssertEqual(results.best(metric: "alignment_rms"), ["erm"])
        XCTAssertEqual(results.best(metric: "uniformity_rms"), ["mm"])
        XCTAssertEqual(results.best(metric: "ood_gaussian_auroc"), ["erm"])
        XCTAssertEqual(results.best(metric: "top1"), ["erm"])
        XCTAssertTrue(results.notes().contains { $0.hasPrefix("Did not learn") && $0.hasSuffix(": paper.") })
        // Without the class count there is no rule.
        let unknown = StudyResults(name: "s", variants: ["erm", "paper", "mm"], seeds: [0], runs: runs)
        XCTAssertEqual(unknown.best(metric: "ece"), ["paper"])
    }
}
