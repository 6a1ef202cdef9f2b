import Checksums
import Crypto
import Datasets
import Foundation
import RunOutputs
import Evaluation
import Checkpointing
import RunConfig
import SafeFiles
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
    /// Throws ``TrainingError/configMismatch(ranks:key:values:)`` on every rank when the ranks' settings differ.
    static func require(_ settings: [String: String], _ communicator: Communicator) throws {
        let text = Array(settings.keys.sorted().map { "\($0)=\(settings[$0]!)" }.joined(separator: "\n").utf8)
        let digest = SHA256.hash(data: text).hex
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
}
