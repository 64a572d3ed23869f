/* winograd_probe.c: is Winograd worth it for DCGAN's 4x4 stride-2 convolutions on this CPU?
 * A k4 s2 p1 conv (C -> O, H x H) equals a 3x3 s1 p1 conv on the space-to-depth input (4C -> O,
 * H/2 x H/2) whose kernel has zeros where no 4x4 tap falls. This times oneDNN's forward of the
 * three (best of 5, batch 64, blocked layouts): the k4 s2 conv direct, the 3x3 conv direct, and
 * the 3x3 conv by Winograd F(4x4, 3x3), for dcgan64's D layers. Not part of the build.
 * usage: cc -O2 bench/winograd_probe.c -o /tmp/winograd_probe -ldnnl && /tmp/winograd_probe */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static dnnl_engine_t eng; static dnnl_stream_t st;
/* Best time in seconds of one forward, or < 0 when oneDNN has no such primitive. */
static double run(int B, int C, int H, int O, int K, int S, int P, dnnl_alg_kind_t alg, int reps, dnnl_prop_kind_t prop) {
    int Ho = (H + 2 * P - K) / S + 1;
    dnnl_dims_t sd = {B, C, H, H}, wd = {O, C, K, K}, dd = {B, O, Ho, Ho}, str = {S, S}, pl = {P, P}, pr = {P, P};
    dnnl_memory_desc_t s, w, d;
    dnnl_memory_desc_init_by_tag(&s, 4, sd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&d, 4, dd, dnnl_f32, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd;
    if (dnnl_convolution_forward_desc_init(&cd, prop, alg, &s, &w, NULL, &d, str, pl, pr) != dnnl_success) return -1;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL) != dnnl_success) return -2;
    const char *impl; dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    dnnl_primitive_t p; dnnl_primitive_create(&p, pd);
    const dnnl_memory_desc_t *ms = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), *mw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), *md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_memory_t a, b, c;
    dnnl_memory_create(&a, ms, eng, DNNL_MEMORY_ALLOCATE); dnnl_memory_create(&b, mw, eng, DNNL_MEMORY_ALLOCATE); dnnl_memory_create(&c, md, eng, DNNL_MEMORY_ALLOCATE);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
    dnnl_primitive_execute(p, st, 3, args); dnnl_stream_wait(st);
    double best = 1e9;
    for (int r = 0; r < reps; r++) { double t0 = now(); dnnl_primitive_execute(p, st, 3, args); dnnl_stream_wait(st); double t = now() - t0; if (t < best) best = t; }
    printf("  B%d C%d H%d -> O%d k%d s%d: %-28s %.2f ms\n", B, C, H, O, K, S, impl, best * 1e3);
    dnnl_memory_destroy(a); dnnl_memory_destroy(b); dnnl_memory_destroy(c);
    dnnl_primitive_destroy(p); dnnl_primitive_desc_destroy(pd);
    return best;
}
int main(void) {
    dnnl_engine_create(&eng, dnnl_cpu, 0); dnnl_stream_create(&st, eng, dnnl_stream_default_flags);
    int cfg[][3] = {{64, 32, 128}, {128, 16, 256}, {256, 8, 512}};
    for (int i = 0; i < 3; i++) {
        int C = cfg[i][0], H = cfg[i][1], O = cfg[i][2];
        printf("layer C%d H%d O%d\n", C, H, O);
        double t1 = run(64, C, H, O, 4, 2, 1, dnnl_convolution_direct, 5, dnnl_forward_training);
        run(64, 4 * C, H / 2, O, 3, 1, 1, dnnl_convolution_direct, 5, dnnl_forward_training);
        double t3 = run(64, 4 * C, H / 2, O, 3, 1, 1, dnnl_convolution_winograd, 5, dnnl_forward_training);
        if (t1 > 0 && t3 > 0) printf("  speed-up of Winograd over the direct k4 s2 conv: %.2fx\n", t1 / t3);
        else printf("  no Winograd primitive for this shape\n");
    }
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return 0;
}
