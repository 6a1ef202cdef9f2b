import CMPI

/// A non-blocking operation in flight, returned by `Communicator.iallreduce`.
///
/// The buffers given to the operation must stay valid, and must not be touched, until `wait()`
/// returns or `test()` returns `true`. An operation larger than MPI's count limit runs as several MPI
/// requests; this object completes when all of them have.
///
/// Open MPI progresses a non-blocking collective only while the rank is inside some MPI call: calling
/// `test()` every so often while computing is what makes communication overlap with the computation.
public final class Request {
    private var handles: [MPI_Request?]
    private let call: String

    init(handles: [MPI_Request?], call: String) {
        self.handles = handles
        self.call = call
    }

    /// Whether the operation has completed (as far as the last `test()` or `wait()` saw).
    public private(set) var isComplete = false

    /// Gives MPI a chance to progress the operation and returns whether it has completed. Never blocks.
    @discardableResult
    public func test() throws -> Bool {
        if isComplete { return true }
        try MPI.requireActive("Request.test")
        var flag: Int32 = 0
        let count = Int32(handles.count)
        try handles.withUnsafeMutableBufferPointer { buffer in
            try MPI.check(MPI_Testall(count, buffer.baseAddress, &flag, cmpi_statuses_ignore()), "MPI_Testall (\(call))")
        }
        isComplete = flag != 0
        return isComplete
    }

    /// Blocks until the operation has completed.
    public func wait() throws {
        if isComplete { return }
        try MPI.requireActive("Request.wait")
        let count = Int32(handles.count)
        try handles.withUnsafeMutableBufferPointer { buffer in
            try MPI.check(MPI_Waitall(count, buffer.baseAddress, cmpi_statuses_ignore()), "MPI_Waitall (\(call))")
        }
        isComplete = true
    }

    /// Cancels a pending point-to-point operation (a receive nobody will match, say) and completes
    /// the request. Non-blocking collectives cannot be cancelled: MPI forbids it.
    public func cancel() throws {
        if isComplete { return }
        try MPI.requireActive("Request.cancel")
        for index in handles.indices where handles[index] != nil && handles[index] != cmpi_request_null() {
            try MPI.check(MPI_Cancel(&handles[index]), "MPI_Cancel (\(call))")
        }
        try wait()
    }

    /// Blocks until every request has completed.
    public static func waitAll(_ requests: [Request]) throws {
        for request in requests { try request.wait() }
    }

    deinit {
        // A dropped request would leave MPI writing into buffers the caller may free: finish it first.
        // (A receive that will never be matched must be `cancel()`led before it is dropped.)
        if !isComplete && MPI.isInitialized && !MPI.isFinalized {
            try? wait()
        }
    }
}
