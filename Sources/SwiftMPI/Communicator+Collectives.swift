import CMPI

/// Collectives on contiguous typed buffers (`Float`, `Double`, `Int32`, `Int64`, `UInt8`).
///
/// Each comes in two forms: on unsafe buffer pointers (no copies; what the trainer's gradient
/// buckets use) and on Swift arrays (convenient, and they check that ranks agree on sizes).
/// Every rank of the communicator must make the same sequence of collective calls.
extension Communicator {

    // MARK: - Allreduce

    /// Reduces `buffer` element-wise over all ranks, in place: afterwards every rank holds the result.
    /// Buffers longer than MPI's count limit are reduced in chunks.
    public func allreduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOperation) throws {
        try MPI.requireActive("Communicator.allreduce")
        try forEachChunk(of: buffer.count) { offset, count in
            try MPI.check(MPI_Allreduce(cmpi_in_place(), buffer.baseAddress.map { UnsafeMutableRawPointer($0 + offset) },
                                        count, T.mpiDatatype, op.mpiOp, handle), "MPI_Allreduce")
        }
    }

    /// Reduces `send` element-wise over all ranks into `receive` (same length), out of place.
    public func allreduce<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                        op: ReductionOperation) throws {
        try MPI.requireActive("Communicator.allreduce")
        try requireEqualCounts(send.count, receive.count, "Communicator.allreduce")
        try forEachChunk(of: send.count) { offset, count in
            try MPI.check(MPI_Allreduce(send.baseAddress.map { UnsafeRawPointer($0 + offset) },
                                        receive.baseAddress.map { UnsafeMutableRawPointer($0 + offset) },
                                        count, T.mpiDatatype, op.mpiOp, handle), "MPI_Allreduce")
        }
    }

    /// Reduces `values` element-wise over all ranks, in place. Every rank must pass the same count.
    public func allreduce<T: MPIScalar>(_ values: inout [T], op: ReductionOperation) throws {
        try values.withUnsafeMutableBufferPointer { try allreduce($0, op: op) }
    }

    /// Starts a non-blocking allreduce of `send` into `receive` and returns at once.
    ///
    /// Prefer this out-of-place form: with Open MPI, an in-place non-blocking allreduce does most of
    /// its work inside the posting call. Both buffers must stay valid and untouched until the request
    /// completes.
    public func iallreduce<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>,
                                         op: ReductionOperation) throws -> Request {
        try MPI.requireActive("Communicator.iallreduce")
        try requireEqualCounts(send.count, receive.count, "Communicator.iallreduce")
        var handles: [MPI_Request?] = []
        try forEachChunk(of: send.count) { offset, count in
            var request: MPI_Request? = nil
            try MPI.check(MPI_Iallreduce(send.baseAddress.map { UnsafeRawPointer($0 + offset) },
                                         receive.baseAddress.map { UnsafeMutableRawPointer($0 + offset) },
                                         count, T.mpiDatatype, op.mpiOp, handle, &request), "MPI_Iallreduce")
            handles.append(request)
        }
        return Request(handles: handles, call: "MPI_Iallreduce")
    }

    /// Starts a non-blocking allreduce of `buffer` in place and returns. The buffer must stay valid and
    /// untouched until the request completes. See the out-of-place form for why it is usually better.
    public func iallreduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOperation) throws -> Request {
        try MPI.requireActive("Communicator.iallreduce")
        var handles: [MPI_Request?] = []
        try forEachChunk(of: buffer.count) { offset, count in
            var request: MPI_Request? = nil
            try MPI.check(MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress.map { UnsafeMutableRawPointer($0 + offset) },
                                         count, T.mpiDatatype, op.mpiOp, handle, &request), "MPI_Iallreduce")
            handles.append(request)
        }
        return Request(handles: handles, call: "MPI_Iallreduce")
    }

    // MARK: - Broadcast

    /// Copies `root`'s `buffer` into every other rank's `buffer` (all the same length).
    public func broadcast<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        try MPI.requireActive("Communicator.broadcast")
        try validateRoot(root, "Communicator.broadcast")
        try forEachChunk(of: buffer.count) { offset, count in
            try MPI.check(MPI_Bcast(buffer.baseAddress.map { UnsafeMutableRawPointer($0 + offset) }, count,
                                    T.mpiDatatype, Int32(root), handle), "MPI_Bcast")
        }
    }

    /// Copies `root`'s array to every rank, whatever length it has: the length goes first, then the
    /// elements, so other ranks may pass any array (an empty one) and get `root`'s back.
    /// A `[UInt8]` payload of any size (a serialised config or checkpoint) travels this way.
    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws {
        try MPI.requireActive("Communicator.broadcast")
        try validateRoot(root, "Communicator.broadcast")
        var length: [Int64] = [Int64(values.count)]
        try length.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        if rank != root {
            values = [T](unsafeUninitializedCapacity: Int(length[0])) { _, initialized in
                initialized = Int(length[0])
            }
        }
        try values.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    // MARK: - Gather

    /// Gathers `send` from every rank into `root`'s `receive`, in rank order: rank r's elements land at
    /// `r * send.count`. `receive` must hold `size * send.count` elements on `root` and is ignored
    /// elsewhere (pass `nil`). Every rank must send the same count.
    public func gather<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>?,
                                     root: Int) throws {
        try MPI.requireActive("Communicator.gather")
        try validateRoot(root, "Communicator.gather")
        let count = try singleCallCount(send.count, "Communicator.gather")
        if rank == root {
            try requireEqualCounts(send.count * size, receive?.count ?? 0, "Communicator.gather")
        }
        try MPI.check(MPI_Gather(send.baseAddress, count, T.mpiDatatype,
                                 rank == root ? receive?.baseAddress : nil, count, T.mpiDatatype,
                                 Int32(root), handle), "MPI_Gather")
    }

    /// Gathers every rank's `values` at `root`, in rank order. Returns the concatenation on `root` and
    /// `nil` elsewhere. Ranks that disagree on the count all get `MPIError.sizeMismatch`.
    public func gather<T: MPIScalar>(_ values: [T], root: Int) throws -> [T]? {
        try validateRoot(root, "Communicator.gather")
        try requireSameCountOnAllRanks(values.count, "Communicator.gather")
        var result: [T]? = rank == root ? Array(unsafeUninitializedCapacity: values.count * size) { _, n in
            n = values.count * size
        } : nil
        try values.withUnsafeBufferPointer { send in
            if result != nil {
                try result!.withUnsafeMutableBufferPointer { try gather(send, into: $0, root: root) }
            } else {
                try gather(send, into: nil, root: root)
            }
        }
        return result
    }

    /// Gathers `send` from every rank into every rank's `receive` (`size * send.count` elements), in
    /// rank order. Every rank must send the same count.
    public func allgather<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws {
        try MPI.requireActive("Communicator.allgather")
        let count = try singleCallCount(send.count, "Communicator.allgather")
        try requireEqualCounts(send.count * size, receive.count, "Communicator.allgather")
        try MPI.check(MPI_Allgather(send.baseAddress, count, T.mpiDatatype, receive.baseAddress, count,
                                    T.mpiDatatype, handle), "MPI_Allgather")
    }

    /// Gathers every rank's `values` on every rank, in rank order. Ranks that disagree on the count
    /// all get `MPIError.sizeMismatch`.
    public func allgather<T: MPIScalar>(_ values: [T]) throws -> [T] {
        try requireSameCountOnAllRanks(values.count, "Communicator.allgather")
        var result = [T](unsafeUninitializedCapacity: values.count * size) { _, n in n = values.count * size }
        try values.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { try allgather(send, into: $0) }
        }
        return result
    }

    // MARK: - Helpers

    /// Calls `body(offset, count)` for consecutive chunks of at most `MPI.maximumCountPerCall`
    /// elements covering `0..<total`; once with a zero count for an empty buffer, so that every rank
    /// still takes part in the collective.
    private func forEachChunk(of total: Int, _ body: (Int, Int32) throws -> Void) throws {
        let limit = MPI.maximumCountPerCall
        var offset = 0
        repeat {
            let count = min(limit, total - offset)
            try body(offset, Int32(count))
            offset += count
        } while offset < total
    }

    private func singleCallCount(_ count: Int, _ call: String) throws -> Int32 {
        guard count <= MPI.maximumCountPerCall else {
            throw MPIError.countTooLarge(call: call, count: count, limit: MPI.maximumCountPerCall)
        }
        return Int32(count)
    }

    private func requireEqualCounts(_ expected: Int, _ actual: Int, _ call: String) throws {
        guard expected == actual else {
            throw MPIError.sizeMismatch(call: call, detail: "expected \(expected) elements, got \(actual)")
        }
    }

    /// One small allreduce that tells every rank whether all ranks passed the same count, so that a
    /// mismatch becomes the same error everywhere instead of a hang or a truncated message.
    private func requireSameCountOnAllRanks(_ count: Int, _ call: String) throws {
        var bounds: [Int64] = [Int64(count), -Int64(count)]
        try allreduce(&bounds, op: .max)
        let largest = bounds[0], smallest = -bounds[1]
        guard largest == smallest else {
            throw MPIError.sizeMismatch(call: call,
                                        detail: "ranks passed between \(smallest) and \(largest) elements; every rank must pass the same count")
        }
    }
}
