import Checkpointing
import RunConfig

extension ConfigChange {
    /// Throws (with `.refuse`) or returns the message to show (with `.allow`) when `config` changes
    /// the run that `checkpoint` saved; nil when nothing that matters changed.
    func check(_ checkpoint: Checkpoint, against config: TrainingConfig) throws -> String? {
        let changes = try ConfigChange.changes(from: checkpoint.state.config, to: config)
        guard !changes.isEmpty else { return nil }
        let text = "the config differs from the checkpoint's (\(checkpoint.folder.lastPathComponent)) in \(changes.joined(separator: "; "))"
        switch self {
        case .refuse(let fix):
            throw TrainingError.cannotStart("--resume: \(text); the resumed run would not be the run that was stopped: \(fix)")
        case .allow:
            return "resuming with changed settings (allowed): \(text)"
        }
    }
}
