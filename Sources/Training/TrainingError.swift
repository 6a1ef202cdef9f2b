import Distributed

/// Why a run stopped early, reached by every rank together (so they can leave without `MPI_Abort`).
/// Each maps to an exit code of `multimix train` (see docs/commands.md, "Exit codes").
public enum TrainingError: Error, CustomStringConvertible {
    /// A loss or gradient was NaN or infinite at `step` (and `training.skip_nonfinite` is off).
    case nonFinite(step: Int, what: String)
    /// Ranks hold different parameters after `step`.
    case diverged(step: Int, ranks: [Int])
    /// The run cannot start as asked (resume problems, empty shards, ...).
    case cannotStart(String)
    /// An image of the batch of `step` could not be decoded (`data.on_bad_image: error`); the run was
    /// checkpointed at the last completed step. `detail` is `PATH: REASON` on the rank that read it.
    case badImage(step: Int, detail: String?, checkpointStep: Int?)

    public var description: String {
        switch self {
        case let .nonFinite(step, what):
            return "step \(step): \(what) is not finite; lower optimizer.lr, or set training.skip_nonfinite: true to skip such steps"
        case let .diverged(step, ranks):
            return "step \(step): rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ", ")) hold different parameters from rank 0; the ranks ran different code or data (check that every node has the same build)"
        case let .cannotStart(message):
            return message
        case let .badImage(step, detail, checkpointStep):
            let saved = checkpointStep.map { "checkpoint written at step \($0); " } ?? ""
            return "step \(step): " + (detail.map { "cannot decode \($0)" } ?? "another rank could not decode an image of its batch (its error line names the file)")
                + "; \(saved)replace or remove the file and resume with --resume auto, or set data.on_bad_image: skip"
        }
    }

    /// The process exit code for this error.
    public var exitCode: Int32 {
        switch self {
        case .nonFinite: return 3
        case .diverged: return 4
        case .cannotStart: return 1
        case .badImage: return 6
        }
    }

    /// The exit code of a run that ended with `error`: a training error's own, 4 for ranks that started
    /// with other settings, the failing rank's error's for one the ranks agreed on, else 1.
    public static func exitCode(for error: Error) -> Int32 {
        switch error {
        case let error as TrainingError: return error.exitCode
        case ConsensusError.settingsDiffer: return 4
        case ConsensusError.agreed(let own): return exitCode(for: own)
        default: return 1
        }
    }
}
