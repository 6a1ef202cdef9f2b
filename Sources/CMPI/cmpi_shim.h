// CMPI: Open MPI's C API for Swift.
//
// Open MPI defines its predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) as macros over the
// addresses of global structs, and MPI_IN_PLACE / MPI_STATUS_IGNORE as casts of integers. Swift's
// importer cannot see any of those, so each one is exposed here as a `static inline` accessor with
// the prefix `cmpi_`. Everything else (MPI_Allreduce, MPI_Comm_rank, ...) imports directly from mpi.h.
#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H

#include <mpi.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

// Communicators
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm cmpi_comm_self(void) { return MPI_COMM_SELF; }
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }

// Datatypes
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }

// Reduction operations
static inline MPI_Op cmpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_op_max(void) { return MPI_MAX; }
static inline MPI_Op cmpi_op_min(void) { return MPI_MIN; }

// Special values
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *cmpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int cmpi_undefined(void) { return MPI_UNDEFINED; }
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }
static inline int cmpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int cmpi_success(void) { return MPI_SUCCESS; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }

// Thread support levels (an anonymous enum in mpi.h; exposed as ints so Swift need not guess).
static inline int cmpi_thread_single(void) { return MPI_THREAD_SINGLE; }
static inline int cmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int cmpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int cmpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }

// The CPUs this process may run on, as a bit mask of `bytes` bytes (SwiftMPI's LaunchEnvironment):
// glibc declares sched_getaffinity only under _GNU_SOURCE, which Swift's Glibc module does not set,
// so the system call is made directly. Returns the bytes the kernel wrote, or -1 (errno set).
static inline long cmpi_sched_getaffinity(size_t bytes, void *mask) {
    return syscall(SYS_sched_getaffinity, 0, bytes, mask);
}

#endif
