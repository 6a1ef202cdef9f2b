import CMPI

/// Non-blocking point-to-point messages, for small control traffic beside the collectives (the
/// trainer's stall watch uses them to learn which ranks have reached a step).
extension Communicator {
    /// Starts sending `buffer` to rank `destination` with `tag`. The buffer must stay valid and
    /// untouched until the request completes.
    public func isend<T: MPIScalar>(_ buffer: UnsafeBufferPointer<T>, to destination: Int, tag: Int) throws -> Request {
        try MPI.requireActive("Communicator.isend")
        try validatePeer(destination, "Communicator.isend")
        let count = try pointToPointCount(buffer.count, "Communicator.isend")
        var request: MPI_Request? = nil
        try MPI.check(MPI_Isend(buffer.baseAddress, count, T.mpiDatatype, Int32(destination), Int32(tag), handle, &request),
                      "MPI_Isend")
        return Request(handles: [request], call: "MPI_Isend")
    }

    /// Starts receiving into `buffer` from rank `source` with `tag`. The buffer must stay valid and
    /// untouched until the request completes.
    public func irecv<T: MPIScalar>(into buffer: UnsafeMutableBufferPointer<T>, from source: Int, tag: Int) throws -> Request {
        try MPI.requireActive("Communicator.irecv")
        try validatePeer(source, "Communicator.irecv")
        let count = try pointToPointCount(buffer.count, "Communicator.irecv")
        var request: MPI_Request? = nil
        try MPI.check(MPI_Irecv(buffer.baseAddress, count, T.mpiDatatype, Int32(source), Int32(tag), handle, &request),
                      "MPI_Irecv")
        return Request(handles: [request], call: "MPI_Irecv")
    }

    private func validatePeer(_ peer: Int, _ call: String) throws {
        guard (0..<size).contains(peer) else {
            throw MPIError.invalidArgument(call: call, detail: "rank \(peer) is not in this communicator (0..<\(size))")
        }
    }

    private func pointToPointCount(_ count: Int, _ call: String) throws -> Int32 {
        guard count <= MPI.maximumCountPerCall else {
            throw MPIError.countTooLarge(call: call, count: count, limit: MPI.maximumCountPerCall)
        }
        return Int32(count)
    }
}
