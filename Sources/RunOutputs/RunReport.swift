import Evaluation
import Foundation
import RunConfig
import SafeFiles
import TextEscaping

/// The run's `report.html`: one self-contained page (inline CSS and SVG, no scripts, no links out)
/// built from `metrics.jsonl`:
///
/// - three line plots against epochs: training loss, test accuracy (top-1, and top-5 when logged) and
///   the learning rate;
/// - from the last evaluation's `eval-details.json` (``EvaluationDetails``), when it has one: the
///   reliability diagram (ECE's bins) and histograms of the maximum softmax probability, the test
///   split's against each out-of-distribution set's (or alone, without OOD sets);
/// - the final metrics table: the last evaluation's values, and the last training loss;
/// - the OOD table (``OODTable``): a column group per out-of-distribution set, as the paper's;
/// - a baseline figure (`eval.baseline`), when given: a dashed level on the accuracy plot and a row;
/// - the resolved config, when given.
///
/// Rank 0 rewrites it after each evaluation and at the end, so a browser refresh shows progress.
public enum RunReport {
    /// Reads `runFolder/metrics.jsonl` (and `config.yaml` if present) and writes `runFolder/report.html`.
    /// `split`: the evaluations' split, for the accuracy plot's title (nil: read from `config.yaml`).
    @discardableResult
    public static func write(runFolder: URL, title: String? = nil, baseline: EvalConfig.Baseline? = nil,
                             split: EvalConfig.Split? = nil) throws -> URL {
        let records = try MetricsLog.read(runFolder.appendingPathComponent("metrics.jsonl"))
        let config = try? SafeFile.readText(runFolder.appendingPathComponent("config.yaml").path, fix: "")
        // A details file from an evaluation the log no longer holds (dropped on resuming) is left out.
        let details = EvaluationDetails.read(runFolder: runFolder).flatMap { details in
            records.contains { $0.kind == .eval && $0.step == details.step } ? details : nil
        }
        let page = html(records: records, title: title ?? runFolder.lastPathComponent, configYAML: config, baseline: baseline,
                        details: details, split: split ?? config.flatMap(EvalConfig.Split.of(configYAML:)))
        let url = runFolder.appendingPathComponent("report.html")
        try SafeFile.write(page, to: url.path)
        return url
    }

    /// The page for `records`, evaluated on `split` (nil: unknown, the plot says neither).
    public static func html(records: [MetricsRecord], title: String, configYAML: String? = nil,
                            baseline: EvalConfig.Baseline? = nil, details: EvaluationDetails? = nil,
                            split: EvalConfig.Split? = .test) -> String {
        let train = records.filter { $0.kind == .train }
        let eval = records.filter { $0.kind == .eval }
        func series(_ records: [MetricsRecord], _ name: String, as label: String? = nil) -> SVGLinePlot.Series? {
            let points = records.compactMap { record in record.values[name].map { (x: record.epoch, y: $0) } }
            return points.isEmpty ? nil : SVGLinePlot.Series(name: label ?? name, points: points)
        }
        let plots = [
            SVGLinePlot(title: "Training loss", xLabel: "epoch", yLabel: "loss",
                        series: [series(train, MetricName.loss, as: "training loss")].compactMap { $0 }),
            SVGLinePlot(title: EvalConfig.Split.plotTitle("accuracy", on: split), xLabel: "epoch", yLabel: "accuracy",
                        series: [series(eval, MetricName.top1, as: "top-1"), series(eval, MetricName.top5, as: "top-5"),
                                 baselineLevel(baseline, over: eval)].compactMap { $0 }),
            SVGLinePlot(title: "Learning rate", xLabel: "epoch", yLabel: "learning rate",
                        series: [series(train, MetricName.learningRate, as: "learning rate")].compactMap { $0 }),
        ]

        var rows: [(String, String)] = []
        if let last = records.last { rows.append(("steps", "\(last.step)")); rows.append(("epochs", format(last.epoch))) }
        if let loss = train.last(where: { $0.values[MetricName.loss] != nil })?.values[MetricName.loss] {
            rows.append(("final training loss", format(loss)))
        }
        if let final = eval.last {
            rows += final.values.sorted { $0.key < $1.key }.map { ($0.key, format($0.value)) }
        }
        if let baseline { rows.append(("top1 of \(baseline.label)", format(baseline.top1))) }

        var page = pageStart(title: title) + """
            <p>\(train.count) training records and \(eval.count) evaluations from metrics.jsonl, generated \(ISO8601DateFormatter().string(from: Date())).</p>

            """
        for plot in plots { page += plot.svg() + "\n" }
        if let details { page += detailsSection(details) }
        page += "<h2>Final metrics</h2>\n<table class=\"metrics\">\n<tr><th>metric</th><th>value</th></tr>\n"
        for (name, value) in rows {
            page += "<tr><td>\(HTML.escape(name))</td><td class=\"value\">\(HTML.escape(value))</td></tr>\n"
        }
        page += "</table>\n"
        page += OODTable.html([(label: title, values: eval.last?.values ?? [:])])
        if let configYAML {
            page += "<h2>Config</h2>\n<pre>\(HTML.escape(configYAML))</pre>\n"
        }
        return page + "</body>\n</html>\n"
    }

    /// The reliability diagram and the MSP histograms of one evaluation, under `heading`.
    public static func detailsSection(_ details: EvaluationDetails, heading: String = "Calibration and OOD scores") -> String {
        let examples = Int(details.reliability.reduce(0) { $0 + $1.count })
        var out = "<h2>\(HTML.escape(heading))</h2>\n"
        out += "<p>The evaluation after epoch \(format(details.epoch)) (step \(details.step)), \(examples) examples. "
            + "Reliability diagram: accuracy per confidence bin (the ECE bins) against the diagonal of a calibrated model, "
            + "the gap to the bin's mean confidence shaded. Histograms: the maximum softmax probability, the OOD score, "
            + "as a fraction of each set.</p>\n<div class=\"pair\">\n"
        out += SVGBinPlot.reliability(title: "Reliability diagram", bins: details.reliability) + "\n"
        let inDistribution = details.histograms.filter { $0.name == EvaluationDetails.inDistribution }
            .map { ScoreHistogram(name: "in-distribution", counts: $0.counts) }
        let outOfDistribution = details.histograms.filter { $0.name != EvaluationDetails.inDistribution }
        if outOfDistribution.isEmpty {
            out += SVGBinPlot.histograms(title: "Max softmax probability", inDistribution) + "\n"
        }
        for set in outOfDistribution {
            out += SVGBinPlot.histograms(title: "Max softmax probability: in-distribution vs \(set.name)", inDistribution + [set]) + "\n"
        }
        return out + "</div>\n"
    }

    /// The baseline's top-1 as a level across the evaluated epochs (nil without a baseline or evaluations).
    private static func baselineLevel(_ baseline: EvalConfig.Baseline?, over eval: [MetricsRecord]) -> SVGLinePlot.Series? {
        guard let baseline, let first = eval.first?.epoch, let last = eval.last?.epoch else { return nil }
        // The legend says "baseline"; the table names it in full.
        return SVGLinePlot.Series(name: "baseline top-1", points: [(x: first, y: baseline.top1), (x: last, y: baseline.top1)])
    }

    /// A page's start, up to and including its `<h1>` (shared with ``ComparisonReport``).
    public static func pageStart(title: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(HTML.escape(title)): multimix report</title>
        <style>
        \(style)</style>
        </head>
        <body>
        <h1>\(HTML.escape(title))</h1>

        """
    }

    /// The pages' CSS (the study report uses it too).
    public static let style = """
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
        h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
        svg.plot { display: block; margin: 1em 0; font-size: 11px; background: #fff; }
        div.pair svg.plot { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
        svg .title { font-size: 13px; font-weight: 600; } svg .axis { font-size: 12px; }
        svg .grid { stroke: #e4e4e4; } svg .frame { fill: none; stroke: #888; } svg .empty { fill: #888; }
        table.metrics { border-collapse: collapse; } table.metrics td, table.metrics th { padding: 0.25em 1em; border-bottom: 1px solid #ddd; text-align: left; }
        table.metrics td.value { text-align: right; font-variant-numeric: tabular-nums; }
        pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }

        """

    /// A value for the table: 4 significant digits, or "n/a" when not finite.
    public static func format(_ value: Double) -> String {
        value.isFinite ? String(format: "%.4g", value) : "n/a"
    }
}
