import Foundation

/// What a resume does when the config differs from the checkpoint's in a key that changes the run
/// (the learning rate, the data, the model, the mixing, …): a resumed run promises to be the run that
/// was stopped, so such a change is refused by key unless the user allows it. Keys that only change
/// how the run is watched or spread (`eval.*`, `checkpoint.*`, `distributed.*`, `training.threads`,
/// `training.log_every_steps`, `data.root`, `data.workers`: decoding is the same for any count,
/// `name`) may change freely, and so may `training.epochs` (training on, or stopping sooner: the
/// schedule follows the new total).
///
///     --resume: the config differs from the checkpoint's (step 8): optimizer.lr 0.05 → 0.1; … pass --allow-config-change …
public enum ConfigChange: Equatable, Sendable {
    /// Refuse a change, ending the message with `fix` (the command's own way to allow it).
    case refuse(fix: String)
    /// Continue with the new values, saying which changed.
    case allow

    /// `multimix train`'s default.
    public static let refuseForTrain = ConfigChange.refuse(fix: "restore them, or pass --allow-config-change to continue with the new values")

    /// Key paths, or prefixes ending in `.`, that may differ between a checkpoint and its resume.
    public static let free = ["eval.", "checkpoint.", "distributed.", "training.threads", "training.log_every_steps", "training.epochs",
                       "data.root", "data.workers", "name"]

    /// The keys of `config` that differ from `saved`'s, as `key old → new`, but those `ignoring`
    /// names (key paths, or prefixes ending in `.`; by default `free`: the ones that do not change the run).
    public static func changes(from saved: TrainingConfig, to config: TrainingConfig, ignoring: [String] = free) throws -> [String] {
        let (old, new) = (try saved.settings(), try config.settings())
        return Set(old.keys).union(new.keys).sorted().filter { key in
            old[key] != new[key] && !ignoring.contains { $0.hasSuffix(".") ? key.hasPrefix($0) : key == $0 }
        }.map { "\($0) \(old[$0] ?? "(absent)") → \(new[$0] ?? "(absent)")" }
    }
}
