import CMPI
import Synchronization

/// The thread support a process asks MPI for, in increasing order of what it allows.
public enum ThreadLevel: Int, Comparable, CaseIterable, Sendable {
    /// One thread only.
    case single
    /// Several threads, but only the one that called `initialize` makes MPI calls.
    case funneled
    /// Several threads make MPI calls, never two at once.
    case serialized
    /// Any thread makes MPI calls at any time.
    case multiple

    var cValue: Int32 {
        switch self {
        case .single: return cmpi_thread_single()
        case .funneled: return cmpi_thread_funneled()
        case .serialized: return cmpi_thread_serialized()
        case .multiple: return cmpi_thread_multiple()
        }
    }

    init(cValue: Int32) {
        self = ThreadLevel.allCases.last { $0.cValue <= cValue } ?? .single
    }

    public static func < (lhs: ThreadLevel, rhs: ThreadLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Process-wide MPI state: start-up, shut-down, abort and the wall clock.
///
/// ```swift
/// let granted = try MPI.initialize(threadLevel: .funneled)
/// let world = try Communicator.world
/// var x: [Float] = [Float(world.rank)]
/// try world.allreduce(&x, op: .sum)
/// try MPI.finalize()
/// ```
public enum MPI {
    /// Whether `MPI_Init_thread` has run in this process (true after `finalize` too).
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        return flag != 0
    }

    /// Whether `MPI_Finalize` has run in this process.
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        return flag != 0
    }

    /// Starts MPI with the requested thread support and returns the level MPI granted, which may be
    /// lower. Sets `MPI_ERRORS_RETURN` on `MPI_COMM_WORLD`, so failures become Swift errors.
    ///
    /// - Throws: `MPIError.alreadyInitialized` on a second call, `MPIError.finalized` after
    ///   `finalize`, or `MPIError.mpi` if `MPI_Init_thread` fails.
    @discardableResult
    public static func initialize(threadLevel: ThreadLevel = .funneled) throws -> ThreadLevel {
        if isFinalized { throw MPIError.finalized(call: "MPI.initialize") }
        if isInitialized { throw MPIError.alreadyInitialized }
        var provided: Int32 = 0
        let code = MPI_Init_thread(nil, nil, threadLevel.cValue, &provided)
        guard code == cmpi_success() else {
            throw MPIError.mpi(call: "MPI_Init_thread", code: code, message: errorString(code))
        }
        try check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
        try check(MPI_Comm_set_errhandler(cmpi_comm_self(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
        knownActive.store(true, ordering: .relaxed)
        return ThreadLevel(cValue: provided)
    }

    /// Shuts MPI down. Every rank must call it once, after its last MPI call. Shut down through this
    /// call rather than a direct `MPI_Finalize`: the wrapper remembers that MPI is active.
    ///
    /// - Throws: `MPIError.notInitialized` before `initialize`, `MPIError.finalized` on a second
    ///   call, or `MPIError.mpi` if `MPI_Finalize` fails.
    public static func finalize() throws {
        try requireActive("MPI.finalize")
        knownActive.store(false, ordering: .relaxed)
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    /// Ends every process of the job with `code` (`MPI_Abort` on `MPI_COMM_WORLD`). Use it when one
    /// rank finds an error the others cannot know about: they would otherwise wait forever in their
    /// next collective. Before `initialize` or after `finalize` it simply exits this process.
    public static func abort(code: Int32) -> Never {
        if isInitialized && !isFinalized {
            MPI_Abort(cmpi_comm_world(), code)
        }
        exit(code)
    }

    /// Seconds since an arbitrary point in the past (`MPI_Wtime`), for timing on one rank.
    public static var wallTime: Double { MPI_Wtime() }

    /// The largest element count one MPI call takes: MPI counts are C `int`s. Operations that can be
    /// split (allreduce, broadcast) are issued in chunks of at most this many elements.
    /// Tests lower it to exercise the chunking without gigabyte buffers.
    package static var maximumCountPerCall: Int {
        get { countLimit.load(ordering: .relaxed) }
        set { countLimit.store(newValue, ordering: .relaxed) }
    }
    private static let countLimit = Atomic<Int>(Int(Int32.max))

    // MARK: - Internal helpers

    /// Whether MPI was seen initialized and not yet finalized through this wrapper. Caches the
    /// answer of `MPI_Initialized`/`MPI_Finalized` (each takes a lock in Open MPI) for the hot path.
    private static let knownActive = Atomic<Bool>(false)

    /// Throws unless MPI is initialized and not finalized.
    @inline(__always)
    static func requireActive(_ call: @autoclosure () -> String) throws {
        if knownActive.load(ordering: .relaxed) { return }
        if !isInitialized { throw MPIError.notInitialized(call: call()) }
        if isFinalized { throw MPIError.finalized(call: call()) }
        knownActive.store(true, ordering: .relaxed)  // initialized by other code (MPI_Init from C): fine to use
    }

    /// Converts an MPI return code into a thrown `MPIError.mpi` carrying MPI's own message.
    @inline(__always)
    package static func check(_ code: Int32, _ call: @autoclosure () -> String) throws {
        if code != 0 {  // MPI_SUCCESS is 0 in every implementation
            throw MPIError.mpi(call: call(), code: code, message: errorString(code))
        }
    }

    /// `MPI_Error_string` for `code`.
    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == cmpi_success() else { return "unknown error" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
