// COpenBLAS: OpenBLAS's CBLAS interface (Debian's libopenblas-dev; found through pkg-config "openblas").
// openblas_set_num_threads / openblas_get_num_threads are declared by OpenBLAS's own cblas.h.
#include <cblas.h>
