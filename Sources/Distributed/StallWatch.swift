import SwiftMPI

/// Names the ranks that have not reached a collective, when one takes too long (after Horovod's
/// stall inspector).
///
/// Each rank announces "I reached step s" before its gradient all-reduce: the others send it to rank
/// 0, and rank 0 sends its own to everyone, over a private duplicate communicator, with eager
/// non-blocking messages (no extra synchronisation on the happy path). When a rank has waited
/// longer than the timeout, it reports once: rank 0 names the ranks it has not heard from for this
/// step; the others say whether rank 0 has arrived.
public final class StallWatch {
    private let communicator: Communicator
    private let timeout: Double
    private let report: (String) -> Void
    /// The latest step each peer announced (rank 0: every rank's; others: rank 0's only).
    private var announced: [Int64]
    private var receiveBuffers: UnsafeMutableBufferPointer<Int64>
    private var receives: [Request?]
    private let sendBuffer = UnsafeMutableBufferPointer<Int64>.allocate(capacity: 1)
    private var sends: [Request] = []
    private var step: Int64 = -1
    private var reported = false

    /// - Parameters:
    ///   - communicator: the ranks to watch (a duplicate is made, so these messages never meet others).
    ///   - timeout: seconds of waiting before a report.
    ///   - report: where the one-line report goes (stderr in the trainer).
    public init(communicator: Communicator, timeout: Double, report: @escaping (String) -> Void) throws {
        self.communicator = try communicator.duplicate()
        self.timeout = timeout
        self.report = report
        let size = communicator.size
        announced = [Int64](repeating: -1, count: size)
        receiveBuffers = .allocate(capacity: size)
        receiveBuffers.initialize(repeating: -1)
        receives = [Request?](repeating: nil, count: size)
        for peer in peersToHear { try postReceive(from: peer) }
    }

    deinit {
        // The receives posted for the next announcements will never be matched: cancel them before
        // their buffers go.
        if MPI.isInitialized && !MPI.isFinalized {
            for request in receives { try? request?.cancel() }
        }
        receiveBuffers.deallocate()
        sendBuffer.deallocate()
    }

    private var peersToHear: [Int] {
        communicator.rank == 0 ? Array(1..<max(communicator.size, 1)) : [0]
    }

    private var peersToTell: [Int] {
        communicator.rank == 0 ? Array(1..<max(communicator.size, 1)) : [0]
    }

    private func postReceive(from peer: Int) throws {
        let slot = UnsafeMutableBufferPointer(rebasing: receiveBuffers[peer..<(peer + 1)])
        receives[peer] = try communicator.irecv(into: slot, from: peer, tag: 1)
    }

    /// Announces that this rank has reached `step`'s collective.
    public func arrive(atStep step: Int) throws {
        guard communicator.size > 1 else { return }
        try Request.waitAll(sends)  // small eager messages: long complete
        self.step = Int64(step)
        reported = false
        sendBuffer[0] = Int64(step)
        sends = try peersToTell.map { try communicator.isend(UnsafeBufferPointer(sendBuffer), to: $0, tag: 1) }
        try collect()
    }

    /// Records every announcement that has arrived.
    private func collect() throws {
        for peer in peersToHear {
            while let request = receives[peer], try request.test() {
                announced[peer] = receiveBuffers[peer]
                try postReceive(from: peer)
            }
        }
    }

    /// Called while waiting for the collective, `waited` seconds in: reports once past the timeout.
    public func check(waited: Double) throws {
        guard communicator.size > 1, !reported, waited >= timeout else { return }
        try collect()
        reported = true
        let seconds = Int(waited.rounded())
        if communicator.rank == 0 {
            let missing = (1..<communicator.size).filter { announced[$0] < step }
            if missing.isEmpty {
                report("stall: step \(step)'s gradient all-reduce has waited \(seconds) s although every rank arrived (slow network or an MPI problem)")
            } else {
                let names = missing.map(String.init).joined(separator: ", ")
                report("stall: rank\(missing.count > 1 ? "s" : "") \(names) \(missing.count > 1 ? "have" : "has") not reached step \(step)'s gradient all-reduce after \(seconds) s")
            }
        } else if announced[0] < step {
            report("stall: rank \(communicator.rank) has waited \(seconds) s at step \(step)'s gradient all-reduce; rank 0 has not arrived")
        } else {
            report("stall: rank \(communicator.rank) has waited \(seconds) s at step \(step)'s gradient all-reduce; rank 0 names the missing ranks")
        }
    }
}
