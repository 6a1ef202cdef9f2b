import Foundation

/// Text made safe for an HTML page or an SVG: &, <, > and " as entities (run names, metric names
/// and paths come from files anyone may write).
public enum HTML {
    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
