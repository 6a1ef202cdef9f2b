import SwiftMPI

/// How the ranks decide together, so that a failure on one rank stops all of them with an error
/// instead of leaving the others waiting forever in the next collective:
///
///     rootDecides   rank 0 works (it owns the disk), every rank learns whether it worked
///     allDecide     every rank works, every rank learns whether all did
///     requireSameSettings   every rank runs the same job, or all stop naming the first difference
///
/// A rank whose own work failed throws ``ConsensusError/agreed(_:)`` with its error (it says why);
/// the others throw ``ConsensusError/peerFailed(rank:what:)`` (they stay quiet). The stop signal and
/// the step's other verdicts ride in the gradients' all-reduce instead (`StepAgreement`).
public struct Consensus {
    public let communicator: Communicator

    public init(_ communicator: Communicator) {
        self.communicator = communicator
    }

    /// Runs `work` on rank 0 only and tells every rank whether it succeeded.
    public func rootDecides(_ what: String, _ work: () throws -> Void) throws {
        var failure: Error? = nil
        if communicator.rank == 0 {
            do { try work() } catch { failure = error }
        }
        var flag: [Int32] = [failure == nil ? 0 : 1]
        try communicator.broadcast(&flag, root: 0)
        if let failure { throw ConsensusError.agreed(failure) }
        if flag[0] != 0 { throw ConsensusError.peerFailed(rank: 0, what: what) }
    }

    /// Runs `work` on every rank; if it fails anywhere, every rank throws.
    public func allDecide(_ what: String, _ work: () throws -> Void) throws {
        var failure: Error? = nil
        do { try work() } catch { failure = error }
        let failed = try communicator.allgather([Int32(failure == nil ? 0 : 1)])
        if let failure { throw ConsensusError.agreed(failure) }
        if let first = failed.firstIndex(of: 1) { throw ConsensusError.peerFailed(rank: first, what: what) }
    }

    /// Rank 0's `values` on every rank (what rank 0 read from the disk).
    public func rootsValues(_ values: [Int64]) throws -> [Int64] {
        var values = values
        try communicator.broadcast(&values, root: 0)
        return values
    }

    /// Throws ``ConsensusError/settingsDiffer(ranks:key:values:firstRank:)`` on every rank when the
    /// ranks' settings (key → value text) differ: a rank running another job would take other steps.
    ///
    ///     all ranks compare a 64-bit hash of their sorted settings; where one differs, rank 0's
    ///     settings and the first differing rank's are broadcast, and every rank names the same key.
    public func requireSameSettings(_ settings: [String: String]) throws {
        let text = Array(settings.keys.sorted().map { "\($0)=\(settings[$0]!)" }.joined(separator: "\n").utf8)
        let all = try communicator.allgather([Int64(bitPattern: Consensus.fingerprint(text))])
        let differing = all.indices.filter { all[$0] != all[0] }
        guard let first = differing.first else { return }
        var reference = communicator.rank == 0 ? text : []
        try communicator.broadcast(&reference, root: 0)
        var other = communicator.rank == first ? text : []
        try communicator.broadcast(&other, root: first)
        let (a, b) = (Consensus.parse(reference), Consensus.parse(other))
        let key = (Set(a.keys).union(b.keys)).sorted().first { a[$0] != b[$0] } ?? "?"
        throw ConsensusError.settingsDiffer(ranks: differing, key: key,
                                            values: (a[key] ?? "(absent)", b[key] ?? "(absent)"), firstRank: first)
    }

    /// FNV-1a over the bytes: the ranks compare it, nothing is stored (a collision only delays the
    /// report to the first step that goes wrong, and the parameter check still catches that).
    static func fingerprint(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
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

/// Why the ranks stopped together.
public enum ConsensusError: Error, CustomStringConvertible {
    /// Another rank failed first; its own message is in its output.
    case peerFailed(rank: Int, what: String)
    /// This rank's own error, which every rank learnt about together.
    indirect case agreed(Error)
    /// Ranks started with different settings: `key` is the first that differs, with rank 0's value
    /// and `firstRank`'s.
    case settingsDiffer(ranks: [Int], key: String, values: (String, String), firstRank: Int)

    public var description: String {
        switch self {
        case let .peerFailed(rank, what):
            return "rank \(rank) failed while \(what); see its message above"
        case let .agreed(error):
            return "\(error)"
        case let .settingsDiffer(ranks, key, values, firstRank):
            return "rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ", ")) started with other settings than rank 0: \(key) is \(values.0) on rank 0 and \(values.1) on rank \(firstRank); give every rank the same --config, --set and flags"
        }
    }
}
