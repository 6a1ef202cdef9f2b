import Datasets
import Foundation

/// The study's tables: `results.csv` (a row per run), `results.md` (a row per variant), and the
/// cells that `report.html` shows too.
extension StudyResults {
    /// One cell of the per-variant table.
    public struct Cell: Equatable {
        public var text: String
        /// The best value of its column (bold).
        public var isBest = false
    }

    /// The per-variant table: `variant`, `runs`, then each metric as "mean ± std" over seeds.
    public struct Table: Equatable {
        public var header: [String]
        public var rows: [[Cell]]
    }

    /// The per-variant table: "0.7000 ± 0.2000", "0.7000 ± –" with one seed, empty where no run of
    /// the variant has the metric; the best variant per column marked.
    public func table() -> Table {
        let metrics = self.metrics
        let best = Dictionary(uniqueKeysWithValues: metrics.map { ($0, Set(self.best(metric: $0))) })
        let rows = variants.map { variant -> [Cell] in
            [Cell(text: variant), Cell(text: "\(runs(of: variant).count)")] + metrics.map { metric in
                guard let summary = summary(variant: variant, metric: metric) else { return Cell(text: "") }
                let std = summary.std.map(StudyResults.format) ?? "–"
                return Cell(text: "\(StudyResults.format(summary.mean)) ± \(std)", isBest: best[metric]!.contains(variant))
            }
        }
        return Table(header: ["variant", "runs"] + metrics, rows: rows)
    }

    /// `results.csv`: `variant,seed,epoch,<metrics…>,wall_seconds`, a row per run with an evaluation;
    /// `epoch` is the last evaluation's; values in full precision (`nan` for a `null`); empty where a
    /// run lacks the metric, and `wall_seconds` (from finished.json) empty while it is unfinished.
    public func csv() -> String {
        let metrics = self.metrics
        var lines = [(["variant", "seed", "epoch"] + metrics + ["wall_seconds"]).map(StudyResults.csvField).joined(separator: ",")]
        for run in runs {
            let final = run.final
            let epoch = run.evaluations.last!.epoch
            let fields = [run.variant, "\(run.seed)", epoch == epoch.rounded() ? "\(Int(epoch))" : "\(epoch)"]
                + metrics.map { final[$0].map { "\($0)" } ?? "" }
                + [run.finished.map { "\($0.wallSeconds)" } ?? ""]
            lines.append(fields.map(StudyResults.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `results.md`: a title, the per-variant table (best in bold), and what it summarises.
    public func markdown() -> String {
        let table = self.table()
        var out = "# Study \(StudyResults.markdownCell(name))\n\n"
        out += "| " + table.header.map(StudyResults.markdownCell).joined(separator: " | ") + " |\n"
        out += "| --- | " + Array(repeating: "---:", count: table.header.count - 1).joined(separator: " | ") + " |\n"
        for row in table.rows {
            out += "| " + row.map { $0.isBest ? "**\(StudyResults.markdownCell($0.text))**" : StudyResults.markdownCell($0.text) }.joined(separator: " | ") + " |\n"
        }
        return out + "\n" + notes().map { $0 + "\n" }.joined()
    }

    /// The sentences under the table: seeds and runs, how to read it, what is missing or unfinished.
    public func notes() -> [String] {
        let expected = variants.count * seeds.count
        var notes = ["Seeds \(seeds.map(String.init).joined(separator: ", ")); \(runs.count) of \(expected) runs "
                     + "(\(variants.count) variant\(variants.count == 1 ? "" : "s") × \(seeds.count) seed\(seeds.count == 1 ? "" : "s")). "
                     + "Final evaluation, mean ± sample standard deviation over seeds (– with one seed). "
                     + "Bold: the best variant per column (higher is better for top1, top5, *auroc, *aupr_in, *aupr_out; "
                     + "lower is better for nll, ece, alignment*, uniformity*; other columns are not marked)."]
        if !missing.isEmpty { notes.append("Missing (no evaluation in metrics.jsonl): \(missing.joined(separator: ", ")).") }
        let unfinished = self.unfinished
        if !unfinished.isEmpty { notes.append("Unfinished (last evaluation so far): \(unfinished.joined(separator: ", ")).") }
        return notes
    }

    /// Writes `results.csv` and `results.md` into `folder`.
    public func writeTables(to folder: URL) throws {
        try SafeFile.write(csv(), to: folder.appendingPathComponent("results.csv").path)
        try SafeFile.write(markdown(), to: folder.appendingPathComponent("results.md").path)
    }

    /// A value as the tables show it: 4 decimals (3 significant digits below 0.01), "n/a" if not finite.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        return value != 0 && abs(value) < 0.01 ? String(format: "%.3g", value) : String(format: "%.4f", value)
    }

    /// A CSV field, quoted when it holds a comma, a quote or a line break.
    ///
    /// Text that a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+…`, `@…`; names come from
    /// `metrics.jsonl`, which anyone may write) is prefixed with `'`, so it stays text; numbers are kept.
    static func csvField(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@\t\r".contains(first), Double(text) == nil { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A Markdown table cell: `|` escaped, line breaks as spaces, and `&`, `<`, `>` as entities, so
    /// that a name from `metrics.jsonl` can neither break the table nor inject HTML.
    static func markdownCell(_ text: String) -> String {
        HTML.escape(text).replacingOccurrences(of: "|", with: "\\|")
            .split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).joined(separator: " ")
    }
}
