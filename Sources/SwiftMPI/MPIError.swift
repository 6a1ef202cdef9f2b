/// An error from the Swift MPI wrapper.
///
/// Every MPI call made by `SwiftMPI` runs with `MPI_ERRORS_RETURN` on its communicator, so a failure
/// comes back as one of these instead of aborting the process. Misuse that MPI itself would turn into
/// undefined behaviour (a call before `MPI.initialize` or after `MPI.finalize`, a count that does not
/// fit MPI's `int`) is caught before the C call and reported the same way.
public enum MPIError: Error, Equatable, CustomStringConvertible {
    /// `call` ran before `MPI.initialize(threadLevel:)`.
    case notInitialized(call: String)
    /// `call` ran after `MPI.finalize()`.
    case finalized(call: String)
    /// `MPI.initialize(threadLevel:)` ran twice.
    case alreadyInitialized
    /// `call` got `count` elements where MPI's `int` count allows at most `limit`, and the operation
    /// cannot be split into chunks (gather and allgather would change their layout if split).
    case countTooLarge(call: String, count: Int, limit: Int)
    /// `call` got buffers whose sizes do not agree (`detail` says which and how).
    case sizeMismatch(call: String, detail: String)
    /// `call` was given an argument MPI would reject (a root outside the communicator, a negative
    /// colour, ...); `detail` says which.
    case invalidArgument(call: String, detail: String)
    /// MPI itself returned the error `code` from `call`; `message` is `MPI_Error_string`'s text.
    case mpi(call: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case .notInitialized(let call):
            return "\(call): MPI is not initialized; call MPI.initialize(threadLevel:) first"
        case .finalized(let call):
            return "\(call): MPI was already finalized; no MPI call is allowed after MPI.finalize()"
        case .alreadyInitialized:
            return "MPI.initialize: MPI is already initialized; initialize once per process"
        case .countTooLarge(let call, let count, let limit):
            return "\(call): \(count) elements exceed MPI's count limit of \(limit); split the payload into smaller messages"
        case .sizeMismatch(let call, let detail):
            return "\(call): buffer sizes disagree: \(detail)"
        case .invalidArgument(let call, let detail):
            return "\(call): \(detail)"
        case .mpi(let call, let code, let message):
            return "\(call) failed with MPI error \(code): \(message)"
        }
    }
}
