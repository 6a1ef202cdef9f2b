import CMPI

/// A Swift element type with a matching MPI datatype. The collectives of `Communicator` work on
/// contiguous buffers of these: `Float`, `Double`, `Int32`, `Int64` and `UInt8`. MPI moves an
/// element as its bytes, so only `BitwiseCopyable` types (no references, nothing to retain) qualify.
public protocol MPIScalar: BitwiseCopyable {
    /// The MPI datatype describing one element.
    static var mpiDatatype: MPI_Datatype { get }
}

extension Float: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_float() } }
extension Double: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_double() } }
extension Int32: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_int32() } }
extension Int64: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_int64() } }
extension UInt8: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_uint8() } }

/// An element-wise reduction for allreduce.
public enum ReductionOperation: String, CaseIterable, Sendable {
    /// Element-wise sum.
    case sum
    /// Element-wise maximum.
    case max
    /// Element-wise minimum.
    case min

    var mpiOp: MPI_Op {
        switch self {
        case .sum: return cmpi_op_sum()
        case .max: return cmpi_op_max()
        case .min: return cmpi_op_min()
        }
    }
}
