#ifndef CLTRAIN_CMPI_SHIM_H
#define CLTRAIN_CMPI_SHIM_H
// Open MPI's C API (Debian's libopenmpi-dev). The C++ bindings are never wanted.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

// Open MPI's predefined handles are macros that take the address of a global (MPI_COMM_WORLD is
// `((MPI_Comm) &ompi_mpi_comm_world)`), which Swift cannot import: each is a function here.
static inline MPI_Comm cltrain_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm cltrain_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype cltrain_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cltrain_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cltrain_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cltrain_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op cltrain_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Info cltrain_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Errhandler cltrain_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Request cltrain_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline void *cltrain_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *cltrain_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int cltrain_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
#endif
