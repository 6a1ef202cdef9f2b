/// A value the user gave that cannot be used (a command-line value, a data folder, a set to evaluate
/// on), as one line naming the problem and the fix. Below the training loop, where `TrainingError`
/// is not known; a run that meets one stops with exit code 1, like `TrainingError.cannotStart`.
/// Not its twin: `cannotStart` is thrown by every rank together (each rank reports nothing, rank 0
/// says it once and they leave), a `UsageError` may come from one rank alone, which then ends the
/// job (`JobExit.leave(after:world:context:)`), rather than leave the others waiting.
public struct UsageError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
