/// Which part of a dataset: the training split or the held-out test split.
public enum DatasetSplit: String, CaseIterable, Sendable, Codable {
    /// The training split (normalisation statistics come from it).
    case train
    /// The test split.
    case test
}
