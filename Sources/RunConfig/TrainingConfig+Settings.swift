import Yams

extension TrainingConfig {
    /// The run's settings as key path → value text (`optimizer.lr` → `0.1`, `eval.ood[1].root` → …),
    /// plus `flags` (control-flow flags such as `--max-steps`): what ranks compare before they start and
    /// what a resume compares with its checkpoint's config.
    /// Keys a rank may set for itself: `training.threads` follows each node's CPUs (`multimix train`
    /// shares a node's CPUs between its ranks, and nodes differ), and changes no rank's steps.
    public static let perRankKeys: Set<String> = ["training.threads"]

    public func settings(flags: [String: String] = [:]) throws -> [String: String] {
        var out = flags
        if let node = try Yams.compose(yaml: try yamlText()) { TrainingConfig.flatten(node, path: "", into: &out) }
        return out
    }

    private static func flatten(_ node: Node, path: String, into out: inout [String: String]) {
        if let mapping = node.mapping {
            for (key, value) in mapping {
                let name = key.string ?? "\(key)"
                TrainingConfig.flatten(value, path: path.isEmpty ? name : path + "." + name, into: &out)
            }
        } else if let sequence = node.sequence, sequence.contains(where: { $0.mapping != nil || $0.sequence != nil }) {
            // A list of sections (eval.ood): each element's keys by index, `eval.ood[1].root`.
            out[path] = "[\(sequence.count)]"
            for (index, element) in sequence.enumerated() { TrainingConfig.flatten(element, path: "\(path)[\(index)]", into: &out) }
        } else if let sequence = node.sequence {
            out[path] = "[" + sequence.map { $0.string ?? "\($0)" }.joined(separator: ", ") + "]"
        } else {
            out[path] = node.string ?? "\(node)"
        }
    }
}
