// COpenMP: the GNU OpenMP runtime (libgomp), the one thread pool of the process.
//
// oneDNN (Debian builds it with DNNL_CPU_RUNTIME = OMP) runs its primitives on libgomp's threads, and
// the engine's own parallel loops run on the same threads through GOMP_parallel, the entry point
// GCC emits for `#pragma omp parallel` (the GNU OpenMP ABI, stable since GCC 4.9). omp.h lives in
// GCC's private include folder, which Swift's clang does not search, so the prototypes are declared
// here, identical to omp.h's and libgomp's.
#ifndef COPENMP_SHIM_H
#define COPENMP_SHIM_H

/// Runs fn(data) on a team of num_threads threads (0: the calling thread's default), the calling
/// thread among them as thread 0, and returns when every thread has finished (an implicit barrier).
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

int omp_get_thread_num(void);
int omp_get_num_threads(void);
void omp_set_num_threads(int);
int omp_get_max_threads(void);

#endif
