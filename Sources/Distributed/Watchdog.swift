#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import SwiftMPI

/// The run's one watchdog, for a rank left waiting on its peers. One is made per run and shared by
/// the gradient synchroniser (which announces each step and asks while it waits) and the training
/// loop (which beats).
///
/// - **Late ranks** (`distributed.stall_timeout_s`, after Horovod's stall inspector): each rank
///   announces "I reached step s" before its gradient all-reduce: the others send it to rank 0, and
///   rank 0 sends its own to everyone, over a private duplicate communicator, with eager non-blocking
///   messages (no extra synchronisation on the happy path). When a rank has waited longer than the
///   timeout, it reports once: rank 0 names the ranks it has not heard from for this step; the others
///   say whether rank 0 has arrived.
/// - **No progress** (`distributed.stall_abort_s`): while watching (`startWatchingProgress()`), a
///   thread of its own checks once a second that the rank has beaten within the limit; past it, it
///   reports one error line and calls MPI_Abort, which ends every rank (mpirun's exit code is then
///   non-zero). A peer that died, hangs (SIGSTOP, a stuck node) or left early would otherwise keep
///   this rank waiting forever in some collective.
///
/// Every line it writes is formatted in `Watchdog.Message` below.
public final class Watchdog {
    /// The private duplicate for the announcements (nil without a late-rank timeout, or on one rank).
    private let announcements: Communicator?
    private let rank: Int
    private let lateAfter: Double
    private let abortAfter: Double?
    private let report: @Sendable (String) -> Void
    private let progress = ProgressClock()
    /// The latest step each peer announced (rank 0: every rank's; others: rank 0's only).
    private var announced: [Int64]
    private var receiveBuffers: UnsafeMutableBufferPointer<Int64>
    private var receives: [Request?]
    private let sendBuffer = UnsafeMutableBufferPointer<Int64>.allocate(capacity: 1)
    private var sends: [Request] = []
    private var step: Int64 = -1
    private var reported = false

    /// - Parameters:
    ///   - communicator: the ranks to watch (a duplicate is made, so the announcements never meet
    ///     other messages).
    ///   - lateAfter: seconds of waiting at a gradient all-reduce before the late ranks are named
    ///     (nil: never).
    ///   - abortAfter: seconds without a beat before the job is ended (nil: never; never on one rank).
    ///   - report: where the one-line reports go (stderr by default).
    public init(communicator: Communicator, lateAfter: Double?, abortAfter: Double? = nil,
                report: @escaping @Sendable (String) -> Void = Watchdog.writeToStandardError) throws {
        let size = communicator.size
        announcements = lateAfter == nil ? nil : try communicator.duplicate()
        rank = communicator.rank
        self.lateAfter = lateAfter ?? .infinity
        self.abortAfter = size > 1 ? abortAfter : nil
        self.report = report
        announced = [Int64](repeating: -1, count: size)
        receiveBuffers = .allocate(capacity: size)
        receiveBuffers.initialize(repeating: -1)
        receives = [Request?](repeating: nil, count: size)
        if announcements != nil {
            for peer in peers { try postReceive(from: peer) }
        }
    }

    deinit {
        stopWatchingProgress()
        // The receives posted for the next announcements will never be matched: cancel them before
        // their buffers go.
        if MPI.isInitialized && !MPI.isFinalized {
            for request in receives { try? request?.cancel() }
        }
        receiveBuffers.deallocate()
        sendBuffer.deallocate()
    }

    /// The default `report`: one line on the standard error (a direct `write(2)`: no shared `FILE`).
    public static func writeToStandardError(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }

    // MARK: - Late ranks

    /// The peers this rank hears from and tells: rank 0 every other rank, the others rank 0.
    private var peers: [Int] {
        rank == 0 ? Array(1..<max(announced.count, 1)) : [0]
    }

    private func postReceive(from peer: Int) throws {
        let slot = UnsafeMutableBufferPointer(rebasing: receiveBuffers[peer..<(peer + 1)])
        receives[peer] = try announcements?.irecv(into: slot, from: peer, tag: 1)
    }

    /// Announces that this rank has reached `step`'s collective.
    public func arrive(atStep step: Int) throws {
        guard let announcements, announcements.size > 1 else { return }
        try Request.waitAll(sends)  // small eager messages: long complete
        self.step = Int64(step)
        reported = false
        sendBuffer[0] = Int64(step)
        sends = try peers.map { try announcements.isend(UnsafeBufferPointer(sendBuffer), to: $0, tag: 1) }
        try collect()
    }

    /// Records every announcement that has arrived.
    private func collect() throws {
        for peer in peers {
            while let request = receives[peer], try request.test() {
                announced[peer] = receiveBuffers[peer]
                try postReceive(from: peer)
            }
        }
    }

    /// Called while waiting for the collective, `waited` seconds in: reports once past the timeout.
    public func check(waited: Double) throws {
        guard let announcements, announcements.size > 1, !reported, waited >= lateAfter else { return }
        try collect()
        reported = true
        let seconds = Int(waited.rounded())
        if rank == 0 {
            let missing = (1..<announcements.size).filter { announced[$0] < step }
            report(Message.late(missing, step: step, seconds: seconds))
        } else {
            report(Message.waiting(rank: rank, step: step, seconds: seconds, rootArrived: announced[0] >= step))
        }
    }

    // MARK: - No progress

    /// This rank made progress now.
    public func beat() { progress.beat() }

    /// Starts ending the job after `abortAfter` seconds without a beat (a no-op without a limit,
    /// or while already watching); counts from now.
    public func startWatchingProgress() {
        guard let limit = abortAfter, !progress.watching.exchange(true, ordering: .relaxed) else { return }
        progress.beat()
        let (progress, rank, size, report) = (progress, rank, announced.count, report)
        let generation = progress.generation.add(1, ordering: .relaxed).newValue
        let thread = Thread {
            while progress.generation.load(ordering: .relaxed) == generation {
                sleep(1)
                let idle = progress.idleSeconds
                guard progress.generation.load(ordering: .relaxed) == generation, idle >= limit else { continue }
                report(Message.noProgress(rank: rank, size: size, idle: idle, limit: limit))
                MPI.abort(code: 1)
            }
        }
        thread.name = "multimix-watchdog"
        thread.start()
    }

    /// Stops ending the job (the thread ends within a second).
    public func stopWatchingProgress() {
        guard progress.watching.exchange(false, ordering: .relaxed) else { return }
        progress.generation.add(1, ordering: .relaxed)
    }
}

/// The last beat, and which no-progress thread may run: the state it shares with the watchdog.
private final class ProgressClock: Sendable {
    let lastBeat = Atomic<Int64>(0)
    let watching = Atomic<Bool>(false)
    /// Counts every start and stop: a thread watches while it is the one its start left (so a
    /// thread stopped in its sleep never watches again beside its successor).
    let generation = Atomic<Int>(0)

    func beat() { lastBeat.store(Int64(DispatchTime.now().uptimeNanoseconds), ordering: .relaxed) }

    var idleSeconds: Double {
        Double(Int64(DispatchTime.now().uptimeNanoseconds) - lastBeat.load(ordering: .relaxed)) * 1e-9
    }
}

extension Watchdog {
    /// Every line the watchdog writes.
    enum Message {
        /// Rank 0, past `stall_timeout_s`: the ranks it has not heard from for `step` (none: every
        /// rank arrived, and the all-reduce itself is slow).
        static func late(_ missing: [Int], step: Int64, seconds: Int) -> String {
            guard !missing.isEmpty else {
                return "stall: step \(step)'s gradient all-reduce has waited \(seconds) s although every rank arrived (slow network or an MPI problem)"
            }
            let names = missing.map(String.init).joined(separator: ", ")
            return "stall: rank\(missing.count > 1 ? "s" : "") \(names) \(missing.count > 1 ? "have" : "has") not reached step \(step)'s gradient all-reduce after \(seconds) s"
        }

        /// Another rank, past `stall_timeout_s`: whether rank 0 (which names the missing ranks) arrived.
        static func waiting(rank: Int, step: Int64, seconds: Int, rootArrived: Bool) -> String {
            "stall: rank \(rank) has waited \(seconds) s at step \(step)'s gradient all-reduce; "
                + (rootArrived ? "rank 0 names the missing ranks" : "rank 0 has not arrived")
        }

        /// Past `stall_abort_s`: `multimix`'s error line (``ErrorLine``) for this rank of `size`.
        static func noProgress(rank: Int, size: Int, idle: Double, limit: Double) -> String {
            ErrorLine.format("no progress for \(Int(idle.rounded())) s (distributed.stall_abort_s = \(Int(limit))): another rank died, hangs or left early; ending the job (the last checkpoint is intact: --resume auto)",
                             rank: rank, size: size)
        }
    }
}
