import Evaluation
import Foundation
import Checkpointing
import RunConfig
import RunOutputs
import SafeFiles
import TextEscaping

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

    /// `results.csv`: `variant,seed,epoch,<metrics…>,wall_seconds,cpu`, a row per run with an
    /// evaluation; `epoch` is the last evaluation's; values in full precision (`nan` for a `null`);
    /// empty where a run lacks the metric, and `wall_seconds` and `cpu` (from finished.json) empty
    /// while it is unfinished (`cpu` also for a run finished before markers kept it).
    /// With baselines (`compare_to`), a `d_<metric>` column per metric against the first (the run
    /// minus the baseline's run of the same seed) and `d_<metric>_vs_<baseline>` columns for each
    /// further one; then per compared variant with at least one pair three more rows whose `seed` is
    /// `mean`, `ci95_low` and `ci95_high`, only their `d_` columns filled (``PairedDifference``).
    public func csv() -> String {
        let metrics = self.metrics
        let differenceColumns = baselines.enumerated().flatMap { index, baseline in
            metrics.map { "d_" + $0 + (index == 0 ? "" : "_vs_" + baseline) }
        }
        var lines = [(["variant", "seed", "epoch"] + metrics + ["wall_seconds", "cpu"] + differenceColumns)
            .map(TableCell.csv).joined(separator: ",")]
        for run in runs {
            let final = run.final
            let epoch = run.evaluations.last!.epoch
            var fields = [run.variant, "\(run.seed)", epoch == epoch.rounded() ? "\(Int(epoch))" : "\(epoch)"]
                + metrics.map { final[$0].map { "\($0)" } ?? "" }
                + [run.finished.map { "\($0.wallSeconds)" } ?? "", run.finished?.cpu ?? ""]
            for baseline in baselines {
                fields += metrics.map { metric in
                    guard let paired = paired(variant: run.variant, metric: metric, against: baseline),
                          let index = paired.seeds.firstIndex(of: run.seed) else { return "" }
                    return "\(paired.differences[index])"
                }
            }
            lines.append(fields.map(TableCell.csv).joined(separator: ","))
        }
        for variant in variants where baselines.contains(where: { $0 != variant }) {
            let paired = baselines.flatMap { baseline in metrics.map { self.paired(variant: variant, metric: $0, against: baseline) } }
            guard paired.contains(where: { $0 != nil }) else { continue }   // no pair yet: no empty rows
            let summaries: [(String, (PairedDifference) -> Double?)] = [
                ("mean", { $0.mean }), ("ci95_low", { $0.interval?.low }), ("ci95_high", { $0.interval?.high }),
            ]
            for (label, value) in summaries {
                let fields = [variant, label, ""] + metrics.map { _ in "" } + ["", ""]
                    + paired.map { $0.flatMap(value).map { "\($0)" } ?? "" }
                lines.append(fields.map(TableCell.csv).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `results.md`: a title, the per-variant table (best in bold), and what it summarises; for each
    /// baseline, the paired differences (mean and 95% t-interval, then per seed) and their note.
    public func markdown() -> String {
        var out = "# Study \(TableCell.markdown(name))\n\n" + StudyResults.markdown(table()) + "\n" + notes().map { $0 + "\n" }.joined()
        for baseline in baselines {
            guard let paired = pairedTable(against: baseline), let seeds = pairedSeedTable(against: baseline),
                  let note = pairedNote(against: baseline) else { continue }
            out += "\n## Paired differences against \(TableCell.markdown(baseline))\n\n" + StudyResults.markdown(paired)
            out += "\nPer seed:\n\n" + StudyResults.markdown(seeds) + "\n" + note + "\n"
        }
        return out
    }

    /// A table as Markdown, best cells in bold (every cell escaped: `TableCell.markdown`).
    static func markdown(_ table: Table) -> String {
        var out = "| " + table.header.map(TableCell.markdown).joined(separator: " | ") + " |\n"
        out += "| --- | " + Array(repeating: "---:", count: table.header.count - 1).joined(separator: " | ") + " |\n"
        for row in table.rows {
            out += "| " + row.map { $0.isBest ? "**\(TableCell.markdown($0.text))**" : TableCell.markdown($0.text) }.joined(separator: " | ") + " |\n"
        }
        return out
    }

    /// The sentences under the table: seeds and runs, how to read it, what is missing or unfinished.
    public func notes() -> [String] {
        let grid = plannedRuns == variants.count * seeds.count
            ? "\(variants.count) variant\(variants.count == 1 ? "" : "s") × \(seeds.count) seed\(seeds.count == 1 ? "" : "s")"
            : "\(variants.count) variants, some on fewer seeds"
        var notes = ["Seeds \(seeds.map(String.init).joined(separator: ", ")); \(runs.count) of \(plannedRuns) runs (\(grid)). "
                     + "Final evaluation, mean ± sample standard deviation over seeds (– with one seed). "
                     + "Bold: the best variant per column (higher is better for top1, top5, *auroc, *aupr_in, *aupr_out; "
                     + "lower is better for nll, ece, alignment*, uniformity*; other columns are not marked)."]
        let failed = variants.filter(didNotLearn)
        if let classCount, !failed.isEmpty {
            notes.append("Did not learn (mean top-1 below twice chance, 2/\(classCount)), so never bold on ece, alignment*, "
                         + "uniformity* or noise OOD: \(failed.joined(separator: ", ")).")
        }
        if !missing.isEmpty { notes.append("Missing (no evaluation in metrics.jsonl): \(missing.joined(separator: ", ")).") }
        let unfinished = self.unfinished
        if !unfinished.isEmpty { notes.append("Unfinished (last evaluation so far): \(unfinished.joined(separator: ", ")).") }
        return notes
    }

    /// Writes `STEM.csv` and `STEM.md` (`results.csv`, `results.md`) into `folder`.
    public func writeTables(to folder: URL, stem: String = "results") throws {
        try SafeFile.write(csv(), to: folder.appendingPathComponent(stem + ".csv").path)
        try SafeFile.write(markdown(), to: folder.appendingPathComponent(stem + ".md").path)
    }

    /// A value as the tables show it: 4 decimals (3 significant digits below 0.01), "n/a" if not finite.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        return value != 0 && abs(value) < 0.01 ? String(format: "%.3g", value) : String(format: "%.4f", value)
    }
}
