import Foundation

/// Text from data (metric names, run names) made safe for a cell of a CSV or Markdown table.
public enum TableCell {
    /// A CSV field, quoted when it holds a comma, a quote or a line break.
    ///
    /// Text that a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+…`, `@…`; names come from
    /// `metrics.jsonl`, which anyone may write) is prefixed with `'`, so it stays text; numbers are kept.
    public static func csv(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@\t\r".contains(first), Double(text) == nil { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A Markdown table cell: `|` escaped, line breaks as spaces, and `&`, `<`, `>` as entities, so
    /// that a name from `metrics.jsonl` can neither break the table nor inject HTML.
    public static func markdown(_ text: String) -> String {
        HTML.escape(text).replacingOccurrences(of: "|", with: "\\|")
            .split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).joined(separator: " ")
    }
}
