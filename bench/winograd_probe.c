/* winograd_probe.c: is Winograd worth it for DCGAN's 4x4 stride-2 convolutions on this CPU?
 * A k4 s2 p1 conv (C -> O, H x H) equals a 3x3 s1 p1 conv on the space-to-depth input (4C -> O,
 * H/2 x H/2) whose kernel has zeros where no 4x4 tap falls. This times oneDNN's forward,
 * backward-data and backward-weights (best of 5, batch 64, blocked layouts) of the k4 s2 conv
 * direct, the 3x3 conv direct, and the 3x3 conv by Winograd F(4x4, 3x3), for dcgan64's D layers
 * (the space-to-depth copies themselves are not timed). Not part of the build.
 * usage: cc -O2 bench/winograd_probe.c -o /tmp/winograd_probe -ldnnl -lm && /tmp/winograd_probe
 * It also measures the Winograd forward's error against float64 on random data. */
#include <dnnl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static dnnl_engine_t eng; static dnnl_stream_t st;
static const char *dir_name[3] = {"forward", "backward-data", "backward-weights"};
/* Best time in seconds of one pass in direction dir (0 forward, 1 backward-data, 2
 * backward-weights), or < 0 when oneDNN has no such primitive. */
static double run(int B, int C, int H, int O, int K, int S, int P, dnnl_alg_kind_t alg, int reps, int dir) {
    int Ho = (H + 2 * P - K) / S + 1;
    dnnl_dims_t sd = {B, C, H, H}, wd = {O, C, K, K}, dd = {B, O, Ho, Ho}, str = {S, S}, pl = {P, P}, pr = {P, P};
    dnnl_memory_desc_t s, w, d;
    dnnl_memory_desc_init_by_tag(&s, 4, sd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&d, 4, dd, dnnl_f32, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd, bd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, alg, &s, &w, NULL, &d, str, pl, pr) != dnnl_success)
        return -1;
    dnnl_primitive_desc_t fpd, pd;
    if (dnnl_primitive_desc_create(&fpd, &cd, NULL, eng, NULL) != dnnl_success) return -2;
    int qs = dnnl_query_src_md, qw = dnnl_query_weights_md, qd = dnnl_query_dst_md;
    int as = DNNL_ARG_SRC, aw = DNNL_ARG_WEIGHTS, ad = DNNL_ARG_DST;
    if (dir == 0) {
        pd = fpd;
    } else {
        if (dir == 1) {
            if (dnnl_convolution_backward_data_desc_init(&bd, alg, &s, &w, &d, str, pl, pr) != dnnl_success) return -1;
            qs = dnnl_query_diff_src_md; qd = dnnl_query_diff_dst_md; as = DNNL_ARG_DIFF_SRC; ad = DNNL_ARG_DIFF_DST;
        } else {
            if (dnnl_convolution_backward_weights_desc_init(&bd, alg, &s, &w, NULL, &d, str, pl, pr) != dnnl_success) return -1;
            qw = dnnl_query_diff_weights_md; qd = dnnl_query_diff_dst_md; aw = DNNL_ARG_DIFF_WEIGHTS; ad = DNNL_ARG_DIFF_DST;
        }
        if (dnnl_primitive_desc_create(&pd, &bd, NULL, eng, fpd) != dnnl_success) return -2;
    }
    const char *impl; dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    dnnl_primitive_t p; dnnl_primitive_create(&p, pd);
    const dnnl_memory_desc_t *ms = dnnl_primitive_desc_query_md(pd, qs, 0), *mw = dnnl_primitive_desc_query_md(pd, qw, 0),
                             *md = dnnl_primitive_desc_query_md(pd, qd, 0);
    dnnl_memory_t a, b, c;
    dnnl_memory_create(&a, ms, eng, DNNL_MEMORY_ALLOCATE); dnnl_memory_create(&b, mw, eng, DNNL_MEMORY_ALLOCATE); dnnl_memory_create(&c, md, eng, DNNL_MEMORY_ALLOCATE);
    dnnl_exec_arg_t args[3] = {{as, a}, {aw, b}, {ad, c}};
    dnnl_primitive_execute(p, st, 3, args); dnnl_stream_wait(st);
    double best = 1e9;
    for (int r = 0; r < reps; r++) { double t0 = now(); dnnl_primitive_execute(p, st, 3, args); dnnl_stream_wait(st); double t = now() - t0; if (t < best) best = t; }
    printf("  %-16s B%d C%d H%d -> O%d k%d s%d: %-28s %.2f ms\n", dir_name[dir], B, C, H, O, K, S, impl, best * 1e3);
    dnnl_memory_destroy(a); dnnl_memory_destroy(b); dnnl_memory_destroy(c);
    dnnl_primitive_destroy(p);
    if (pd != fpd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_desc_destroy(fpd);
    return best;
}
/* y (B,O,H,H) = 3x3 s1 p1 conv of x (B,C,H,H) with w (O,C,3,3), NCHW, by algorithm alg */
static void conv(int B,int C,int H,int O,dnnl_alg_kind_t alg,float*src,float*w,float*dst){
    dnnl_dims_t sd={B,C,H,H}, wd={O,C,3,3}, dd={B,O,H,H}, str={1,1}, pl={1,1}, pr={1,1};
    dnnl_memory_desc_t s,wm,d,su,wu,du;
    dnnl_memory_desc_init_by_tag(&s,4,sd,dnnl_f32,dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&wm,4,wd,dnnl_f32,dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&d,4,dd,dnnl_f32,dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&su,4,sd,dnnl_f32,dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&wu,4,wd,dnnl_f32,dnnl_oihw);
    dnnl_memory_desc_init_by_tag(&du,4,dd,dnnl_f32,dnnl_nchw);
    dnnl_convolution_desc_t cd; dnnl_convolution_forward_desc_init(&cd,dnnl_forward_training,alg,&s,&wm,NULL,&d,str,pl,pr);
    dnnl_primitive_desc_t pd; if(dnnl_primitive_desc_create(&pd,&cd,NULL,eng,NULL)!=dnnl_success){printf("no pd\n");exit(1);}
    dnnl_primitive_t p; dnnl_primitive_create(&p,pd);
    const dnnl_memory_desc_t *ms=dnnl_primitive_desc_query_md(pd,dnnl_query_src_md,0),*mw=dnnl_primitive_desc_query_md(pd,dnnl_query_weights_md,0),*md=dnnl_primitive_desc_query_md(pd,dnnl_query_dst_md,0);
    dnnl_memory_t a,b,c,ua,ub,uc;
    dnnl_memory_create(&a,ms,eng,DNNL_MEMORY_ALLOCATE);dnnl_memory_create(&b,mw,eng,DNNL_MEMORY_ALLOCATE);dnnl_memory_create(&c,md,eng,DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&ua,&su,eng,src);dnnl_memory_create(&ub,&wu,eng,w);dnnl_memory_create(&uc,&du,eng,dst);
    dnnl_primitive_desc_t rp; dnnl_primitive_t r;
    dnnl_reorder_primitive_desc_create(&rp,&su,eng,ms,eng,NULL); dnnl_primitive_create(&r,rp); dnnl_exec_arg_t ra[2]={{DNNL_ARG_FROM,ua},{DNNL_ARG_TO,a}}; dnnl_primitive_execute(r,st,2,ra);
    dnnl_reorder_primitive_desc_create(&rp,&wu,eng,mw,eng,NULL); dnnl_primitive_create(&r,rp); dnnl_exec_arg_t rb[2]={{DNNL_ARG_FROM,ub},{DNNL_ARG_TO,b}}; dnnl_primitive_execute(r,st,2,rb);
    dnnl_exec_arg_t args[3]={{DNNL_ARG_SRC,a},{DNNL_ARG_WEIGHTS,b},{DNNL_ARG_DST,c}}; dnnl_primitive_execute(p,st,3,args);
    dnnl_reorder_primitive_desc_create(&rp,md,eng,&du,eng,NULL); dnnl_primitive_create(&r,rp); dnnl_exec_arg_t rc[2]={{DNNL_ARG_FROM,c},{DNNL_ARG_TO,uc}}; dnnl_primitive_execute(r,st,2,rc);
    dnnl_stream_wait(st);
}
/* Relative error against float64 of the direct and the Winograd 3x3 forward on random data. */
static void accuracy(void) {
    const int B = 8, C = 256, H = 16, O = 128;
    const size_t ns = (size_t)B * C * H * H, nw = (size_t)O * C * 9, nd = (size_t)B * O * H * H;
    float *s = malloc(ns * 4), *w = malloc(nw * 4), *d1 = malloc(nd * 4), *d2 = malloc(nd * 4);
    srand(1);
    for (size_t i = 0; i < ns; i++) s[i] = (rand() / (float)RAND_MAX - 0.5f) * 2;
    for (size_t i = 0; i < nw; i++) w[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.04f;
    conv(B, C, H, O, dnnl_convolution_direct, s, w, d1);
    conv(B, C, H, O, dnnl_convolution_winograd, s, w, d2);
    double e1 = 0, e2 = 0, den = 0;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < H; x++) {
                    double ref = 0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                const int yy = y + i - 1, xx = x + j - 1;
                                if (yy < 0 || xx < 0 || yy >= H || xx >= H) continue;
                                ref += (double)s[((size_t)(b * C + c) * H + yy) * H + xx] * w[((size_t)(o * C + c) * 3 + i) * 3 + j];
                            }
                    const size_t k = ((size_t)(b * O + o) * H + y) * H + x;
                    e1 += (d1[k] - ref) * (d1[k] - ref);
                    e2 += (d2[k] - ref) * (d2[k] - ref);
                    den += ref * ref;
                }
    printf("accuracy (B%d C%d H%d -> O%d, 3x3): ||ours - float64|| / ||float64||: direct %.2e, Winograd %.2e\n", B, C,
           H, O, sqrt(e1 / den), sqrt(e2 / den));
    free(s); free(w); free(d1); free(d2);
}

int main(void) {
    dnnl_engine_create(&eng, dnnl_cpu, 0); dnnl_stream_create(&st, eng, dnnl_stream_default_flags);
    int cfg[][3] = {{64, 32, 128}, {128, 16, 256}, {256, 8, 512}};
    double sum_direct = 0, sum_wino = 0;
    for (int i = 0; i < 3; i++) {
        int C = cfg[i][0], H = cfg[i][1], O = cfg[i][2];
        printf("layer C%d H%d O%d\n", C, H, O);
        for (int dir = 0; dir < 3; dir++) {
            double t1 = run(64, C, H, O, 4, 2, 1, dnnl_convolution_direct, 5, dir);
            run(64, 4 * C, H / 2, O, 3, 1, 1, dnnl_convolution_direct, 5, dir);
            double t3 = run(64, 4 * C, H / 2, O, 3, 1, 1, dnnl_convolution_winograd, 5, dir);
            if (t1 > 0 && t3 > 0) {
                printf("  %s: speed-up of Winograd over the direct k4 s2 conv: %.2fx\n", dir_name[dir], t1 / t3);
                sum_direct += t1;
                sum_wino += t3;
            }
            else printf("  %s: no Winograd primitive for this shape\n", dir_name[dir]);
        }
    }
    printf("all layers and directions: direct k4 s2 %.1f ms, Winograd %.1f ms (%.2fx, before the space-to-depth copies)\n",
           sum_direct * 1e3, sum_wino * 1e3, sum_direct / sum_wino);
    accuracy();
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return 0;
}
