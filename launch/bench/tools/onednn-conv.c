// oneDNN's convolutions on ResNet-20's 3x3 shapes at batch 64 (one rank's), timed directly in C: forward,
// backward-data and backward-weights, NHWC activations (as multimix passes them), weights in the layout
// each primitive chose (format any; the reorders multimix adds are not timed). Built against oneDNN 2.x
// or 3.x (the API differs; DNNL_VERSION_MAJOR picks), so launch/bench/onednn-versions.sh can time one
// version against another in the same run. Prints per shape (ms, GFLOP/s, the kernel oneDNN chose)
// and the whole network's sum, each shape weighted by its count in ResNet-20.
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { fprintf(stderr, "%s: %d line %d\n", #x, s_, __LINE__); exit(1); } } while (0)
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
#if DNNL_VERSION_MAJOR >= 3
typedef dnnl_memory_desc_t MD;
static MD md(int n, const dnnl_dims_t d, dnnl_format_tag_t tag) { MD m; CHECK(dnnl_memory_desc_create_with_tag(&m, n, d, dnnl_f32, tag)); return m; }
#define PTR(m) (m)
typedef const_dnnl_memory_desc_t CMD;
#else
typedef dnnl_memory_desc_t MD;
static MD md(int n, const dnnl_dims_t d, dnnl_format_tag_t tag) { MD m; CHECK(dnnl_memory_desc_init_by_tag(&m, n, d, dnnl_f32, tag)); return m; }
#define PTR(m) (&(m))
typedef const dnnl_memory_desc_t *CMD;
#endif
static dnnl_memory_t mem(dnnl_engine_t e, CMD m) { dnnl_memory_t x; CHECK(dnnl_memory_create(&x, m, e, DNNL_MEMORY_ALLOCATE)); 
    void *h; dnnl_memory_get_data_handle(x, &h); memset(h, 0, dnnl_memory_desc_get_size(m)); return x; }
static double run(dnnl_primitive_t p, dnnl_stream_t s, int nargs, dnnl_exec_arg_t *args, int reps) {
    double t[64];
    for (int i = 0; i < 3; i++) CHECK(dnnl_primitive_execute(p, s, nargs, args));
    for (int i = 0; i < reps; i++) { double a = now(); CHECK(dnnl_primitive_execute(p, s, nargs, args)); dnnl_stream_wait(s); t[i] = now() - a; }
    qsort(t, reps, sizeof(double), cmp); return t[reps / 2];
}
int main(int argc, char **argv) {
    int N = 64, reps = 15;
    struct { int c, o, h, stride; } shapes[] = {{16, 16, 32, 1}, {16, 32, 32, 2}, {32, 32, 16, 1}, {32, 64, 16, 2}, {64, 64, 8, 1}};
    int counts[] = {6, 1, 5, 1, 5};  // convs of each shape in ResNet-20 (18 3x3 convs after the stem)
    dnnl_engine_t e; CHECK(dnnl_engine_create(&e, dnnl_cpu, 0));
    dnnl_stream_t s; CHECK(dnnl_stream_create(&s, e, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    double total[3] = {0, 0, 0};
    for (int k = 0; k < 5; k++) {
        int C = shapes[k].c, O = shapes[k].o, H = shapes[k].h, S = shapes[k].stride, Ho = H / S;
        dnnl_dims_t sd = {N, C, H, H}, dd = {N, O, Ho, Ho}, wd = {O, C, 3, 3}, st = {S, S}, pl = {1, 1}, pr = {1, 1}, dil = {0, 0};
        MD src = md(4, sd, dnnl_nhwc), dst = md(4, dd, dnnl_nhwc), wany = md(4, wd, dnnl_format_tag_any);
        dnnl_primitive_desc_t fpd, bdpd, bwpd;
#if DNNL_VERSION_MAJOR >= 3
        CHECK(dnnl_convolution_forward_primitive_desc_create(&fpd, e, dnnl_forward_training, dnnl_convolution_direct, src, wany, NULL, dst, st, dil, pl, pr, NULL));
        CHECK(dnnl_convolution_backward_data_primitive_desc_create(&bdpd, e, dnnl_convolution_direct, src, wany, dst, st, dil, pl, pr, fpd, NULL));
        CHECK(dnnl_convolution_backward_weights_primitive_desc_create(&bwpd, e, dnnl_convolution_direct, src, wany, NULL, dst, st, dil, pl, pr, fpd, NULL));
#else
        dnnl_convolution_desc_t fd, bdd, bwd;
        CHECK(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &src, &wany, NULL, &dst, st, dil, pl, pr));
        CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, e, NULL));
        CHECK(dnnl_dilated_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, &src, &wany, &dst, st, dil, pl, pr));
        CHECK(dnnl_primitive_desc_create(&bdpd, &bdd, NULL, e, fpd));
        CHECK(dnnl_dilated_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, &src, &wany, NULL, &dst, st, dil, pl, pr));
        CHECK(dnnl_primitive_desc_create(&bwpd, &bwd, NULL, e, fpd));
#endif
        dnnl_primitive_t fp, bdp, bwp;
        CHECK(dnnl_primitive_create(&fp, fpd)); CHECK(dnnl_primitive_create(&bdp, bdpd)); CHECK(dnnl_primitive_create(&bwp, bwpd));
        dnnl_memory_t x = mem(e, PTR(src)), y = mem(e, PTR(dst));
        dnnl_memory_t wf = mem(e, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0));
        dnnl_memory_t wb = mem(e, dnnl_primitive_desc_query_md(bdpd, dnnl_query_weights_md, 0));
        dnnl_memory_t dw = mem(e, dnnl_primitive_desc_query_md(bwpd, dnnl_query_diff_weights_md, 0));
        dnnl_exec_arg_t fa[] = {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, wf}, {DNNL_ARG_DST, y}};
        dnnl_exec_arg_t ba[] = {{DNNL_ARG_DIFF_DST, y}, {DNNL_ARG_WEIGHTS, wb}, {DNNL_ARG_DIFF_SRC, x}};
        dnnl_exec_arg_t wa[] = {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, y}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
        double t[3] = {run(fp, s, 3, fa, reps), run(bdp, s, 3, ba, reps), run(bwp, s, 3, wa, reps)};
        const char *impl[3];
        dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &impl[0]);
        dnnl_primitive_desc_query(bdpd, dnnl_query_impl_info_str, 0, &impl[1]);
        dnnl_primitive_desc_query(bwpd, dnnl_query_impl_info_str, 0, &impl[2]);
        double flop = 2.0 * N * O * Ho * Ho * C * 9;
        printf("v%d.%d %2d->%2d %2dx%-2d s%d  fwd %.2f ms %.0f GF/s (%s)  bwd-data %.2f ms %.0f GF/s (%s)  bwd-w %.2f ms %.0f GF/s (%s)\n", v->major, v->minor, C, O, H, H, S,
               t[0] * 1e3, flop / t[0] / 1e9, impl[0], t[1] * 1e3, flop / t[1] / 1e9, impl[1], t[2] * 1e3, flop / t[2] / 1e9, impl[2]);
        for (int j = 0; j < 3; j++) total[j] += counts[k] * t[j];
    }
    printf("v%d.%d ResNet-20 3x3 convs, batch %d: fwd %.1f ms  bwd-data %.1f ms  bwd-w %.1f ms  sum %.1f ms\n", v->major, v->minor, N,
           total[0] * 1e3, total[1] * 1e3, total[2] * 1e3, (total[0] + total[1] + total[2]) * 1e3);
    return 0;
}
