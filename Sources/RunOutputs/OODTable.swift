import Evaluation
import Foundation
import RunConfig
import TextEscaping

/// The out-of-distribution results as the MultiMix paper's table shows them: a column group per
/// set (AUROC, AUPR-in, AUPR-out, in %), a row per run, from the metric keys `ood_NAME_auroc`, …
/// (`ood_auroc`, … for an unnamed set, shown as "OOD"; the noise sets are sets too).
public enum OODTable {
    static let measures = [("auroc", "AUROC"), ("aupr_in", "AUPR-in"), ("aupr_out", "AUPR-out")]

    /// The sets that `values` has an AUROC for, in key order ("" for the unnamed set).
    public static func sets(in values: [String: Double]) -> [String] {
        values.keys.compactMap { key -> String? in
            guard key.hasPrefix("ood_"), key.hasSuffix("_auroc") else { return nil }
            return key == MetricName.oodAUROC ? "" : String(key.dropFirst(4).dropLast(6))
        }.sorted()
    }

    /// The metric key of `measure` for `set`.
    public static func key(_ set: String, _ measure: String) -> String { set.isEmpty ? "ood_\(measure)" : "ood_\(set)_\(measure)" }

    /// The table's HTML for `rows` (a label and a run's last evaluation), "" when no row has an OOD set.
    public static func html(_ rows: [(label: String, values: [String: Double])]) -> String {
        let columns = Array(Set(rows.flatMap { OODTable.sets(in: $0.values) })).sorted()
        guard !columns.isEmpty else { return "" }
        var page = "<h2>Out-of-distribution detection</h2>\n<p>Maximum softmax probability as the score, in-distribution as the positive class; in %.</p>\n"
        page += "<table class=\"metrics ood\">\n<tr><th rowspan=\"2\">run</th>"
        page += columns.map { "<th colspan=\"3\">\(HTML.escape($0.isEmpty ? "OOD" : $0))</th>" }.joined() + "</tr>\n<tr>"
        page += columns.map { _ in measures.map { "<th>\($0.1)</th>" }.joined() }.joined() + "</tr>\n"
        for row in rows {
            page += "<tr><td>\(HTML.escape(row.label))</td>"
            for set in columns {
                for (measure, _) in measures {
                    // Absent: "–"; logged as null (a set that could not be scored): "n/a", as the metrics table.
                    let text = row.values[key(set, measure)].map { $0.isFinite ? String(format: "%.1f", 100 * $0) : "n/a" } ?? "–"
                    page += "<td class=\"value\">\(text)</td>"
                }
            }
            page += "</tr>\n"
        }
        return page + "</table>\n"
    }
}
