// zlib, for gzip-compressed IDX files (gzopen/gzread) and PNG writing (compress2, crc32).
#include <zlib.h>
