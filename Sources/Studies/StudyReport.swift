import Evaluation
import Foundation
import Checkpointing
import RunConfig
import RunOutputs
import SafeFiles
import TextEscaping

/// A study's `report.html`: one self-contained page (inline CSS and SVG, no scripts, no links out),
/// every number on it read from the run folders through ``StudyResults``:
///
/// 1. top-1 against epochs on the runs' evaluation split (test, or validation), a line per variant:
///    the mean over seeds at each evaluated epoch, shaded from the lowest to the highest seed;
/// 2. a bar chart per final metric (top1, ece, nll, each `*auroc`, `alignment*`, `uniformity*` that
///    the runs have): the mean over seeds per variant, whiskers ± the sample standard deviation;
/// 3. the per-variant table of `results.md`, best in bold, with its notes;
/// 4. for each baseline (`compare_to`), the paired differences: mean and 95% t-interval, then per seed;
/// 5. the study file, when given.
///
/// The page carries no timestamp: the same run folders give the same bytes.
public enum StudyReport {
    /// Writes `folder/report.html` (the study folder), and the top-1 plot alone as `folder/top1.svg`
    /// (styled inside, for a README or a paper).
    @discardableResult
    public static func write(_ results: StudyResults, to folder: URL, studyYAML: String? = nil) throws -> URL {
        let url = folder.appendingPathComponent("report.html")
        try SafeFile.write(html(results, studyYAML: studyYAML), to: url.path)
        try SafeFile.write(standaloneSVG(accuracyPlot(results)), to: folder.appendingPathComponent("top1.svg").path)
        return url
    }

    /// A plot as a file of its own: the page's styles moved inside the `<svg>`, on a white background.
    static func standaloneSVG(_ plot: SVGLinePlot) -> String {
        var svg = plot.svg()
        let style = "<style>text { font-family: sans-serif; font-size: 11px; fill: #222; } .title { font-size: 13px; font-weight: 600; } "
            + ".axis { font-size: 12px; } .grid { stroke: #e4e4e4; } .frame { fill: none; stroke: #888; } .empty { fill: #888; }</style>\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
        if let end = svg.range(of: ">\n") { svg.insert(contentsOf: "\n" + style, at: end.upperBound) }
        return svg + "\n"
    }

    /// The page.
    public static func html(_ results: StudyResults, studyYAML: String? = nil) -> String {
        let title = "Study \(results.name)"
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(HTML.escape(title)): multimix study report</title>
            <style>
            \(RunReport.style)div.bars svg.plot { display: inline-block; margin: 0.5em 1em 0.5em 0; }
            div.wide { overflow-x: auto; } div.wide td.value { white-space: nowrap; }
            </style>
            </head>
            <body>
            <h1>\(HTML.escape(title))</h1>

            """
        page += "<h2>\(HTML.escape(results.evaluationSplit.title)) top-1 against epochs</h2>\n" + accuracyPlot(results).svg() + "\n"
        page += "<h2>Final metrics</h2>\n<p>Mean over seeds; whiskers: ± sample standard deviation (none with one seed).</p>\n<div class=\"bars\">\n"
        for chart in barCharts(results) { page += chart.svg() + "\n" }
        page += "</div>\n<h2>Results</h2>\n<div class=\"wide\">\n" + table(results.table()) + "</div>\n"
        for note in results.notes() { page += "<p>\(HTML.escape(note))</p>\n" }
        for baseline in results.baselines {
            guard let paired = results.pairedTable(against: baseline), let seeds = results.pairedSeedTable(against: baseline),
                  let note = results.pairedNote(against: baseline) else { continue }
            page += "<h2>Paired differences against \(HTML.escape(baseline))</h2>\n<div class=\"wide\">\n" + table(paired)
            page += "<p>Per seed:</p>\n" + table(seeds) + "</div>\n<p>\(HTML.escape(note))</p>\n"
        }
        if let studyYAML { page += "<h2>Study file</h2>\n<pre>\(HTML.escape(studyYAML))</pre>\n" }
        return page + "</body>\n</html>\n"
    }

    /// Top-1 against epochs: per variant, at each epoch some run evaluated, the mean over the runs
    /// evaluated there, and their minimum and maximum as the band (none for a variant of one run).
    static func accuracyPlot(_ results: StudyResults) -> SVGLinePlot {
        let series = results.variants.map { variant -> SVGLinePlot.Series in
            var byEpoch: [Double: [Double]] = [:]
            let runs = results.runs(of: variant)
            for run in runs {
                for record in run.evaluations {
                    if let top1 = record.values[MetricName.top1] { byEpoch[record.epoch, default: []].append(top1) }
                }
            }
            let epochs = byEpoch.keys.sorted()
            return SVGLinePlot.Series(
                name: variant,
                points: epochs.map { (x: $0, y: StudyResults.summarise(byEpoch[$0]!)!.mean) },
                band: runs.count < 2 ? [] : epochs.map { (x: $0, low: byEpoch[$0]!.min()!, high: byEpoch[$0]!.max()!) })
        }
        var plot = SVGLinePlot(title: EvalConfig.Split.plotTitle("top-1", on: results.evaluationSplit) + " (mean over seeds, band: min–max)", xLabel: "epoch", yLabel: "top-1", series: series)
        plot.width = 800   // room for the legend column
        return plot
    }

    /// The metrics charted: top1, ece, nll, then the `*auroc`, `alignment*` and `uniformity*` names
    /// present, each group sorted.
    static func chartedMetrics(_ metrics: [String]) -> [String] {
        var charted = ["top1", "ece", "nll"].filter { metrics.contains($0) }
        charted += metrics.filter { $0.hasSuffix("auroc") }
        charted += metrics.filter { $0.hasPrefix("alignment") }
        charted += metrics.filter { $0.hasPrefix("uniformity") }
        return charted
    }

    /// A bar chart per charted metric: a bar per variant (in the line plot's colours).
    static func barCharts(_ results: StudyResults) -> [SVGBarChart] {
        chartedMetrics(results.metrics).map { metric in
            let bars = results.variants.enumerated().map { index, variant in
                let summary = results.summary(variant: variant, metric: metric)
                return SVGBarChart.Bar(label: variant, value: summary?.mean ?? .nan, error: summary?.std, colorIndex: index)
            }
            return SVGBarChart(title: metric, bars: bars)
        }
    }

    /// The per-variant table as HTML, best cells in bold.
    static func table(_ table: StudyResults.Table) -> String {
        var out = "<table class=\"metrics\">\n<tr>" + table.header.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr>\n"
        for row in table.rows {
            out += "<tr>" + row.enumerated().map { index, cell in
                let text = cell.isBest ? "<b>\(HTML.escape(cell.text))</b>" : HTML.escape(cell.text)
                return index == 0 ? "<td>\(text)</td>" : "<td class=\"value\">\(text)</td>"
            }.joined() + "</tr>\n"
        }
        return out + "</table>\n"
    }
}
