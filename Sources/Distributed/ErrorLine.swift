/// `multimix`'s one error line, the same for every subcommand and for the watchdog's thread:
///
///     multimix: error: [rank R: ][CONTEXT: ]MESSAGE
///
/// The rank only in a job of more than one; the context (a study's run name) only where there is one.
/// It lives here, below the executable, so that a line written by this module (the watchdog's
/// no-progress abort) and the executable's `JobExit.report` cannot drift apart.
public enum ErrorLine {
    public static func format(_ message: String, rank: Int = 0, size: Int = 1, context: String = "") -> String {
        let prefix = (size > 1 ? "rank \(rank): " : "") + (context.isEmpty ? "" : "\(context): ")
        return "multimix: error: \(prefix)\(message)"
    }
}
