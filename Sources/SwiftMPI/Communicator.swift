import CMPI

/// A group of ranks that talk to each other: MPI's communicator.
///
/// `Communicator.world` holds every process of the job. `split(color:key:)`, `splitByNode()` and
/// `duplicate()` make new ones (freed when the Swift object goes away). Rank and size are read once,
/// at creation. Collectives live in `Communicator+Collectives.swift`.
///
/// The wrapper holds no hidden global communicator: pass the one you want to the code that needs it,
/// so a test can hand in `Communicator.world` or a split of it.
public final class Communicator {
    /// The underlying `MPI_Comm` handle, for calls the wrapper does not cover.
    public let handle: MPI_Comm
    /// This process's rank in the communicator, in `0..<size`.
    public let rank: Int
    /// The number of ranks in the communicator.
    public let size: Int
    /// Whether the handle was created by the wrapper and must be freed with it.
    private let ownsHandle: Bool

    /// Every process of the job (`MPI_COMM_WORLD`).
    ///
    /// - Throws: `MPIError.notInitialized` before `MPI.initialize`, `MPIError.finalized` after
    ///   `MPI.finalize`.
    public static var world: Communicator {
        get throws {
            try MPI.requireActive("Communicator.world")
            return try Communicator(handle: cmpi_comm_world(), ownsHandle: false)
        }
    }

    init(handle: MPI_Comm, ownsHandle: Bool) throws {
        var rank: Int32 = 0
        var size: Int32 = 0
        try MPI.check(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank")
        try MPI.check(MPI_Comm_size(handle, &size), "MPI_Comm_size")
        self.handle = handle
        self.rank = Int(rank)
        self.size = Int(size)
        self.ownsHandle = ownsHandle
    }

    deinit {
        // A communicator outliving MPI.finalize cannot be freed any more; the process owns nothing then.
        if ownsHandle && MPI.isInitialized && !MPI.isFinalized {
            var comm: MPI_Comm? = handle
            MPI_Comm_free(&comm)
        }
    }

    /// Splits the communicator: ranks passing the same `color` end up in one new communicator,
    /// ordered by `key` (ties by their rank here). A rank passing `nil` as its colour takes part in
    /// the call but joins no group, and gets `nil` back. Every rank must call it.
    ///
    /// - Throws: `MPIError.invalidArgument` for a negative colour, `MPIError.mpi` if MPI fails.
    public func split(color: Int?, key: Int = 0) throws -> Communicator? {
        try MPI.requireActive("Communicator.split")
        if let color, color < 0 {
            throw MPIError.invalidArgument(call: "Communicator.split",
                                           detail: "colour \(color) is negative; pass nil to join no group")
        }
        guard let cKey = Int32(exactly: key) else {
            throw MPIError.invalidArgument(call: "Communicator.split", detail: "key \(key) does not fit MPI's int")
        }
        let cColor = color.map { Int32(clamping: $0) } ?? cmpi_undefined()
        var newComm: MPI_Comm? = nil
        try MPI.check(MPI_Comm_split(handle, cColor, cKey, &newComm), "MPI_Comm_split")
        guard let newComm, newComm != cmpi_comm_null() else { return nil }
        return try Communicator(handle: newComm, ownsHandle: true)
    }

    /// The ranks of this communicator that share this process's node (`MPI_Comm_split_type` with
    /// `MPI_COMM_TYPE_SHARED`: they can share memory), ordered as here. Every rank must call it.
    ///
    /// - Throws: `MPIError.mpi` if MPI fails.
    public func splitByNode() throws -> Communicator {
        try MPI.requireActive("Communicator.splitByNode")
        var newComm: MPI_Comm? = nil
        try MPI.check(MPI_Comm_split_type(handle, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &newComm),
                      "MPI_Comm_split_type")
        return try Communicator(handle: newComm!, ownsHandle: true)
    }

    /// A new communicator with the same ranks, whose messages never mix with this one's
    /// (`MPI_Comm_dup`): libraries use one so their collectives cannot match a caller's.
    public func duplicate() throws -> Communicator {
        try MPI.requireActive("Communicator.duplicate")
        var newComm: MPI_Comm? = nil
        try MPI.check(MPI_Comm_dup(handle, &newComm), "MPI_Comm_dup")
        return try Communicator(handle: newComm!, ownsHandle: true)
    }

    /// Blocks until every rank of the communicator has called it.
    public func barrier() throws {
        try MPI.requireActive("Communicator.barrier")
        try MPI.check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Throws unless `root` is a rank of this communicator.
    func validateRoot(_ root: Int, _ call: String) throws {
        guard (0..<size).contains(root) else {
            throw MPIError.invalidArgument(call: call, detail: "root \(root) is not a rank of this communicator (0..<\(size))")
        }
    }
}
