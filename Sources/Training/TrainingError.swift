import RunOutputs

/// Why a run stopped early, reached by every rank together (so they can leave without `MPI_Abort`).
/// Each maps to an exit code of `multimix train` (see docs/commands.md, "Exit codes").
public enum TrainingError: Error, CustomStringConvertible {
    /// A loss or gradient was NaN or infinite at `step` (and `training.skip_nonfinite` is off).
    case nonFinite(step: Int, what: String)
    /// Ranks hold different parameters after `step`.
    case diverged(step: Int, ranks: [Int])
    /// Ranks started with different configs or flags: `key` is the first setting that differs, with
    /// rank 0's value and `firstRank`'s.
    case configMismatch(ranks: [Int], key: String, values: (String, String), firstRank: Int)
    /// The run cannot start as asked (resume problems, empty shards, ...).
    case cannotStart(String)
    /// An image of the batch of `step` could not be decoded (`data.on_bad_image: error`); the run was
    /// checkpointed at the last completed step. `detail` is `PATH: REASON` on the rank that read it.
    case badImage(step: Int, detail: String?, checkpointStep: Int?)
    /// Another rank failed first; its own message is in its output.
    case peerFailed(rank: Int, what: String)
    /// An error that every rank learnt about together (this rank's own, reported to the others).
    indirect case agreed(Error)

    public var description: String {
        switch self {
        case let .nonFinite(step, what):
            return "step \(step): \(what) is not finite; lower optimizer.lr, or set training.skip_nonfinite: true to skip such steps"
        case let .diverged(step, ranks):
            return "step \(step): rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ", ")) hold different parameters from rank 0; the ranks ran different code or data (check that every node has the same build)"
        case let .configMismatch(ranks, key, values, firstRank):
            return "rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ", ")) started with other settings than rank 0: \(key) is \(values.0) on rank 0 and \(values.1) on rank \(firstRank); give every rank the same --config, --set and flags"
        case let .cannotStart(message):
            return message
        case let .badImage(step, detail, checkpointStep):
            let saved = checkpointStep.map { "checkpoint written at step \($0); " } ?? ""
            return "step \(step): " + (detail.map { "cannot decode \($0)" } ?? "another rank could not decode an image of its batch (its error line names the file)")
                + "; \(saved)replace or remove the file and resume with --resume auto, or set data.on_bad_image: skip"
        case let .peerFailed(rank, what):
            return "rank \(rank) failed while \(what); see its message above"
        case let .agreed(error):
            return ErrorText.oneLine(error)
        }
    }

    /// The process exit code for this error.
    public var exitCode: Int32 {
        switch self {
        case .nonFinite: return 3
        case .diverged, .configMismatch: return 4
        case .cannotStart, .peerFailed: return 1
        case .badImage: return 6
        case .agreed(let error): return (error as? TrainingError)?.exitCode ?? 1
        }
    }
}
