import Distributed
import Foundation
import RunOutputs
import SwiftMPI
import Training

/// How `multimix` ends: its exit codes and its one error line, for every subcommand.
///
///     multimix: error: [rank R: ][CONTEXT: ]MESSAGE      (stderr, one line naming the problem and the fix)
///
/// Exit codes (docs/commands.md, "Exit codes"): 0 done; 1 bad input found while running (a config,
/// data, a checkpoint, I/O); 2 a bad command line; 3 a non-finite loss or gradient, 4 ranks that
/// disagree and 6 an image that cannot be decoded (``TrainingError/exitCode(for:)``); 75 stopped by a signal
/// after writing a checkpoint.
enum JobExit {
    /// Done.
    static let success: Int32 = 0
    /// Bad input found while running: a config, data, a checkpoint, I/O.
    static let failure: Int32 = 1
    /// A bad command line: an unknown flag, a missing or invalid value, a failed `validate()`.
    static let usage: Int32 = 2
    /// Stopped by SIGTERM, SIGUSR1, SIGINT or SIGHUP after writing a checkpoint (resume with --resume auto).
    static let stopped: Int32 = 75

    /// Writes ``ErrorLine`` (`multimix: error: [rank R: ][CONTEXT: ]MESSAGE`) to stderr (the rank only
    /// in a job of more than one).
    static func report(_ message: String, rank: Int = 0, size: Int = 1, context: String = "") {
        FileHandle.standardError.write(Data((ErrorLine.format(message, rank: rank, size: size, context: context) + "\n").utf8))
    }

    /// ``report(_:rank:size:context:)`` for `error`, as one line (``ErrorText/oneLine(_:)``).
    static func report(_ error: Error, rank: Int = 0, size: Int = 1, context: String = "") {
        report(ErrorText.oneLine(error), rank: rank, size: size, context: context)
    }

    /// Reports `error` once (before any MPI work, or on one process) and exits with `code`.
    static func fail(_ error: Error, code: Int32 = failure) -> Never {
        report(error)
        Foundation.exit(code)
    }

    /// Ends a rank after a trainer's `error`, with `multimix train`'s exit codes: an error every rank
    /// reached together is reported once and every rank leaves with its code; a failure on this rank
    /// alone ends the whole job rather than leave the others waiting. `context` (a study's run name)
    /// prefixes the message.
    static func leave(after error: Error, world: Communicator, context: String = "") -> Never {
        switch error {
        case ConsensusError.peerFailed: break  // the failing rank prints its own message
        case TrainingError.badImage(_, nil, _): break  // likewise: the rank that read the file names it
        case ConsensusError.agreed(let own): report(own, rank: world.rank, size: world.size, context: context)
        case is ConsensusError, is TrainingError: if world.rank == 0 { report(error, context: context) }
        default:
            report(error, rank: world.rank, size: world.size, context: context)
            MPI.abort(code: failure)
        }
        try? MPI.finalize()
        Foundation.exit(TrainingError.exitCode(for: error))
    }
}
