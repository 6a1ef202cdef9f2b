import Datasets
import Foundation
import SwiftMPI
import Yams

/// Every rank must run the same job: the same resolved config and the same control-flow flags
/// (`--max-steps`, `--resume`, the convolution backend). A rank that differs would take other steps
/// and leave the others waiting in a collective forever, so the job stops at start instead, naming
/// the first setting that differs and both values.
///
///     settings = every config key path → its value, plus "--max-steps", "--resume", "--conv-backend"
///     all ranks compare a hash of them; where one differs, rank 0's settings and the first differing
///     rank's are broadcast, and every rank names the same key.
enum RankAgreement {
    /// The job's settings as key path → value text.
    static func settings(_ config: TrainingConfig, flags: [String: String]) throws -> [String: String] {
        var out = flags
        if let node = try Yams.compose(yaml: try config.yamlText()) { flatten(node, path: "", into: &out) }
        return out
    }

    /// Keys a rank may set for itself: `training.threads` follows each node's CPUs (`multimix train`
    /// shares a node's CPUs between its ranks, and nodes differ), and changes no rank's steps.
    static let perRank: Set<String> = ["training.threads"]

    /// Throws ``TrainingError/configMismatch(ranks:key:values:)`` on every rank when the ranks' settings
    /// differ (other than in ``perRank``).
    static func require(_ settings: [String: String], _ communicator: Communicator) throws {
        let settings = settings.filter { !perRank.contains($0.key) }
        let text = Array(settings.keys.sorted().map { "\($0)=\(settings[$0]!)" }.joined(separator: "\n").utf8)
        let digest = SHA256.hash(text).hex
        let prefix = Int64(bitPattern: UInt64(digest.prefix(16), radix: 16) ?? 0)
        let all = try communicator.allgather([prefix])
        let differing = all.indices.filter { all[$0] != all[0] }
        guard let first = differing.first else { return }
        var reference = communicator.rank == 0 ? text : []
        try communicator.broadcast(&reference, root: 0)
        var other = communicator.rank == first ? text : []
        try communicator.broadcast(&other, root: first)
        let (a, b) = (parse(reference), parse(other))
        let key = (Set(a.keys).union(b.keys)).sorted().first { a[$0] != b[$0] } ?? "?"
        throw TrainingError.configMismatch(ranks: differing, key: key,
                                           values: (a[key] ?? "(absent)", b[key] ?? "(absent)"), firstRank: first)
    }

    private static func parse(_ bytes: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            out[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return out
    }

    private static func flatten(_ node: Node, path: String, into out: inout [String: String]) {
        if let mapping = node.mapping {
            for (key, value) in mapping {
                let name = key.string ?? "\(key)"
                flatten(value, path: path.isEmpty ? name : path + "." + name, into: &out)
            }
        } else if let sequence = node.sequence, sequence.contains(where: { $0.mapping != nil || $0.sequence != nil }) {
            // A list of sections (eval.ood): each element's keys by index, `eval.ood[1].root`.
            out[path] = "[\(sequence.count)]"
            for (index, element) in sequence.enumerated() { flatten(element, path: "\(path)[\(index)]", into: &out) }
        } else if let sequence = node.sequence {
            out[path] = "[" + sequence.map { $0.string ?? "\($0)" }.joined(separator: ", ") + "]"
        } else {
            out[path] = node.string ?? "\(node)"
        }
    }
}
