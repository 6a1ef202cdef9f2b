// COneDNN: oneDNN's C API (Debian's libdnnl-dev 2.6, headers in /usr/include; no pkg-config file).
//
// Debian builds oneDNN with DNNL_CPU_RUNTIME = DNNL_RUNTIME_OMP (see oneapi/dnnl/dnnl_config.h), so its
// primitives run on GNU OpenMP (libgomp.so.1, a dependency of libdnnl.so.2): the pool and its thread
// count are OpenMP's, declared in COpenMP and shared with the engine's own loops (Parallel.swift).
#include <dnnl.h>
#include <dnnl_debug.h>
