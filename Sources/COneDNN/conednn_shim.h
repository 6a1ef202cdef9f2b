// COneDNN: oneDNN's C API (Debian's libdnnl-dev 2.6, headers in /usr/include; no pkg-config file).
//
// Debian builds oneDNN with DNNL_CPU_RUNTIME = DNNL_RUNTIME_OMP (see oneapi/dnnl/dnnl_config.h), so its
// primitives run on GNU OpenMP (libgomp.so.1, a dependency of libdnnl.so.2) and the thread count is
// OpenMP's. omp.h lives in GCC's private include folder, which Swift's clang does not search, so the two
// OpenMP entry points we need are declared here (identical to omp.h's prototypes) and libgomp is linked.
#include <dnnl.h>
#include <dnnl_debug.h>

void omp_set_num_threads(int);
int omp_get_max_threads(void);
