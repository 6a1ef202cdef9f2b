import ArgumentParser
import Foundation

/// `multimix`: the command-line tool. One file per subcommand.
///
/// Every subcommand fails the same way (``JobExit``): one line `multimix: error: …` on stderr naming
/// the problem and the fix, exit 2 for a bad command line (an unknown flag, a missing or invalid value,
/// a failed `validate()`) and 1 for bad input found while running (a config, a data file, a checkpoint).
/// `--help` prints the usage as ArgumentParser writes it.
@main
struct Multimix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multimix",
        abstract: "Data-parallel MultiMix training over MPI.",
        subcommands: [Train.self, Study.self, Evaluate.self, Report.self, Metrics.self, Bench.self, DataCommand.self]
    )

    static func main() {
        OpenMPWaitPolicy.restartUnlessSet()
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(afterParsing: error)
        }
        do {
            var command = command
            try command.run()
        } catch {
            exit(afterParsing: error)
        }
        Foundation.exit(JobExit.success)
    }

    /// Prints `error` as one line (or the help text it stands for) and exits: 0 for help, 2 for a bad
    /// command line (ArgumentParser's parse and validation errors), 1 for any other failure, or the
    /// code an `ExitCode` carries.
    private static func exit(afterParsing error: Error) -> Never {
        let code = exitCode(for: error)
        if code == .success {
            print(fullMessage(for: error))
            Foundation.exit(JobExit.success)
        }
        if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }
        let message = Multimix.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        let isUsage = code == .validationFailure
        let hint = isUsage && !message.contains("--help") ? " (see --help)" : ""
        JobExit.report(message + hint)
        Foundation.exit(isUsage ? JobExit.usage : JobExit.failure)
    }
}
