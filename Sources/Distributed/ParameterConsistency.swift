import SwiftMPI

/// Proves that every rank holds the same parameters: a checksum per rank, gathered and compared.
///
/// The checksum is Σᵢ vᵢ·(1 + (i mod 97)/97), accumulated in Double: order-dependent weights make a
/// swap or a shift visible, not only a change of the total. Ranks agree bit for bit when they
/// took identical steps, so any difference at all means divergence.
public enum ParameterConsistency {
    /// The checksum of `count` values.
    public static func checksum(_ values: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        for i in 0..<count { total += Double(values[i]) * (1 + Double(i % 97) / 97) }
        return total
    }

    /// The ranks whose checksum differs from rank 0's (empty when all agree). Every rank gets the
    /// same answer.
    public static func divergentRanks(_ values: UnsafePointer<Float>, count: Int,
                                      communicator: Communicator) throws -> [Int] {
        let all = try communicator.allgather([checksum(values, count: count)])
        return all.indices.filter { all[$0].bitPattern != all[0].bitPattern }
    }
}
