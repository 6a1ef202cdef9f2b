import Foundation
import SwiftMPI

/// Download progress: a live bar (bytes, rate, ETA) redrawn in place when stdout is a terminal, and a
/// plain line every few seconds otherwise (a batch log). `MULTIMIX_PROGRESS=live` or `lines` decides
/// instead, as for training.
public final class FetchProgress: @unchecked Sendable {
    private let live: Bool
    private let lineInterval: Double
    private var label = ""
    private var started = Date()
    private var startBytes: Int64 = 0
    private var lastLine = Date.distantPast
    private var lineOpen = false

    public init(live: Bool = FetchProgress.showsLiveBar, lineInterval: Double = 5) {
        self.live = live
        self.lineInterval = lineInterval
    }

    /// Whether to draw a live bar (``LaunchEnvironment/showsLiveProgress(_:stdoutIsTerminal:)``, as training).
    public static var showsLiveBar: Bool {
        LaunchEnvironment.showsLiveProgress(ProcessInfo.processInfo.environment, stdoutIsTerminal: isatty(STDOUT_FILENO) != 0)
    }

    /// Prints a line of its own (ending a live bar first).
    public func say(_ text: String) {
        endLine()
        print(text)
        fflush(nil)
    }

    /// Starts reporting a transfer named `label`, `bytes` already there (a resumed download).
    func begin(_ label: String, bytes: Int64) {
        self.label = label
        started = Date()
        startBytes = bytes
        lastLine = Date()
    }

    /// Reports `bytes` of `total` (nil: unknown) transferred so far.
    func update(bytes: Int64, total: Int64?) {
        let now = Date()
        let elapsed = max(now.timeIntervalSince(started), 1e-3)
        let rate = Double(bytes - startBytes) / elapsed
        var parts = [Self.megabytes(bytes) + (total.map { " of " + Self.megabytes($0) } ?? "")]
        var fraction: Double? = nil
        if let total, total > 0 { fraction = min(1, Double(bytes) / Double(total)) }
        parts.append(String(format: "%.1f MB/s", rate / 1e6))
        if let total, rate > 0, bytes < total { parts.append("ETA " + Self.duration(Double(total - bytes) / rate)) }
        if live {
            guard now.timeIntervalSince(lastLine) >= 0.2 else { return }
            lastLine = now
            let width = 30
            let filled = Int((fraction ?? 0) * Double(width))
            let bar = fraction == nil ? "" : "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
                + String(format: "%3.0f%% ", (fraction ?? 0) * 100)
            print("\r\(label) \(bar)\(parts.joined(separator: "  "))\u{1B}[K", terminator: "")
            lineOpen = true
        } else {
            guard now.timeIntervalSince(lastLine) >= lineInterval else { return }
            lastLine = now
            let percent = fraction.map { String(format: " (%.0f%%)", $0 * 100) } ?? ""
            print("download \(label): \(parts[0])\(percent), \(parts.dropFirst().joined(separator: ", "))")
        }
        fflush(nil)
    }

    /// Ends a transfer of `bytes` in all.
    func finish(bytes: Int64) {
        let elapsed = max(Date().timeIntervalSince(started), 1e-3)
        say(String(format: "download %@: %@ in %@ (%.1f MB/s)", label, Self.megabytes(bytes), Self.duration(elapsed),
                   Double(bytes - startBytes) / elapsed / 1e6))
    }

    private func endLine() {
        if lineOpen { print("") }
        lineOpen = false
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 3600 ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
            : whole >= 60 ? String(format: "%d:%02d", whole / 60, whole % 60) : "\(max(whole, 0)) s"
    }
}
