/* cpu_winograd.c: the stride-2 layers of both model families by Winograd on their space-to-depth
 * form, for the CPU backend with oneDNN (see cpu_winograd.h): the dcgan family's 4x4 kernels
 * (padding 1) by F(4x4, 2x2), the seed family's 5x5 ones (padding 2) by F(4x4, 3x3).
 *
 * Space-to-depth: pad the big image by P = KT - 1 pixels and split it into its four phases (py, px)
 * of rows and columns; phase (py, px) of channel c is channel c' = 4c + 2py + px of an image of
 * (Hs+P) x (Ws+P) pixels, X'[c'][q][q'] = big[c][2q+py-P][2q'+px-P] (0 outside). The K x K
 * stride-2 convolution is then a KT x KT stride-1 one over 4*Cb channels:
 *   small[k][oy][ox] = sum_c' sum_{t,s<KT} X'[c'][oy+t][ox+s] g[k][c'][t][s],
 *   g[k][4c+2py+px][t][s] = w[k][c][2t+py][2s+px]   (0 where 2t+py or 2s+px reaches K),
 * with KT = 2 for K = 4 and KT = 3 for K = 5. F(4x4, KT x KT) computes a 4x4 tile of it from an NT
 * x NT tile of X', NT = 4 + KT - 1, with NT*NT products per channel pair instead of 16*KT*KT:
 *   U = G g G^T (NT x NT per (k, c')),  V = BT d BT^T (NT x NT per (c', tile)),
 *   M[xi] = U[xi] . V[xi] (one matrix product per xi < NT*NT, over c'),  y = AT M AT^T (4x4).
 * F(4x4, 2x2): 25 products for 64 (points 0, 1, -1, 2, infinity); F(4x4, 3x3): 36 for the 100 of
 * the 5x5 layer itself (points 0, 1, -1, 2, -2, infinity; the matrices of Lavin and Gray). The
 * products run as one batched oneDNN matmul. Backward-data is the transpose of that chain (dM = A dy
 * A^T, dV[xi] = U[xi]^T dM[xi], dx += B dV B^T, overlapping tiles added), the weight gradient
 * dU[xi] = dM[xi] V[xi]^T, dg = G^T dU G.
 *
 * Tiles are numbered p = (image * TY + ty) * TX + tx with TY = Hs/4, TX = Ws/4. V and dV are stored
 * transposed, [NX][P][4Cb] (the four phases of a channel side by side), M and dM [NX][Cs][P], U and
 * dU [NX][Cs][4Cb], NX = NT*NT; each plane starts plane_of() floats after the one before. The batch
 * goes in equal chunks of images so that V and M stay within CHUNK_FLOATS, and a layer whose U
 * would be larger than WHOLE_U_FLOATS takes its output channels in equal groups, one group's U at a
 * time (so that the widest layers fit in half of PyTorch's memory); the whole U is kept between calls
 * for the narrower layers (get_u). The code is written once for both transforms (a Variant of
 * constants and inline transforms, each loop body inlined with the variant fixed). Every loop has a
 * fixed order: the same inputs and thread count give the same bits. */
#ifdef DCGAN_HAVE_DNNL
#include "cpu_winograd.h"
#include "../core/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NTMAX 6 /* the largest tile of the transformed domain (F(4x4, 3x3): 6x6) */
#define KTMAX 3
#define CHUNK_FLOATS ((size_t)4 << 20) /* V and M of one chunk of images: 16 MB */
#define MAX_U_FLOATS ((size_t)20 << 20) /* all of U: 80 MB; wider layers keep oneDNN's direct kernels */
#define WHOLE_U_FLOATS ((size_t)16 << 20) /* U up to 64 MB is made whole (dcgan64's widest, 52 MB) */
#define GROUP_U_FLOATS ((size_t)8 << 20)  /* a larger one in groups of output channels of at most 32 MB */

/* Floats from one of the NX planes of a transformed tensor to the next, for planes of n floats: n
 * rounded up to 16, and 16 more where that is a multiple of 256, so that the planes do not all fall
 * on the same cache sets (a power-of-two distance made the transforms 10x slower). */
static size_t plane_of(size_t n) {
    const size_t p = (n + 15) & ~(size_t)15;
    return p % 256 ? p : p + 16;
}

/* ---- the 1-D transforms (rows of the matrices above) ----
 * The big side's and the weights' run on the four phases of a channel at once, as 4-wide vectors
 * (lane 2py + px, the order of c' = 4c + 2py + px), so that V, dV, U and dU take each as one
 * 16-byte store or load; the small side's are scalar. Weight transforms divide (each value rounded
 * once) rather than multiply by a rounded 1/6. */
typedef float v4 __attribute__((vector_size(16)));

/* F(4x4, 2x2), NT = 5 */
static inline void bt5(v4 o[], const v4 d[]) { /* o = BT d: the input transform */
    o[0] = 2 * d[0] - d[1] - 2 * d[2] + d[3];
    o[1] = 2 * d[1] + d[2] - d[3];
    o[2] = -2 * d[1] + 3 * d[2] - d[3];
    o[3] = d[3] - d[1];
    o[4] = 2 * d[1] - d[2] - 2 * d[3] + d[4];
}
static inline void b5(v4 d[], const v4 v[]) { /* d = B v (BT's transpose): backward-data's last step */
    d[0] = 2 * v[0];
    d[1] = -v[0] + 2 * v[1] - 2 * v[2] - v[3] + 2 * v[4];
    d[2] = -2 * v[0] + v[1] + 3 * v[2] - v[4];
    d[3] = v[0] - v[1] - v[2] + v[3] - 2 * v[4];
    d[4] = v[4];
}
static inline void at5(float y[], const float m[]) { /* y = AT m: the output transform */
    y[0] = m[0] + m[1] + m[2] + m[3];
    y[1] = m[1] - m[2] + 2 * m[3];
    y[2] = m[1] + m[2] + 4 * m[3];
    y[3] = m[1] - m[2] + 8 * m[3] + m[4];
}
static inline void a5(float m[], const float y[]) { /* m = A y (AT's transpose): dy into the transformed domain */
    m[0] = y[0];
    m[1] = y[0] + y[1] + y[2] + y[3];
    m[2] = y[0] - y[1] + y[2] - y[3];
    m[3] = y[0] + 2 * y[1] + 4 * y[2] + 8 * y[3];
    m[4] = y[3];
}
/* u = G g: the weight transform (G's rows are scaled by 1/2, 1/2, 1/6, 1/6, 1 against BT's) */
static inline void g5(v4 u[], const v4 g[]) {
    u[0] = g[0] / 2;
    u[1] = (g[0] + g[1]) / 2;
    u[2] = (g[0] - g[1]) / 6;
    u[3] = (g[0] + 2 * g[1]) / 6;
    u[4] = g[1];
}
static inline void gt5(v4 g[], const v4 u[]) { /* g = G^T u: the weight gradient back from the transformed domain */
    g[0] = (u[0] + u[1]) / 2 + (u[2] + u[3]) / 6;
    g[1] = u[1] / 2 + (2 * u[3] - u[2]) / 6 + u[4];
}

/* F(4x4, 3x3), NT = 6 */
static inline void bt6(v4 o[], const v4 d[]) {
    o[0] = 4 * d[0] - 5 * d[2] + d[4];
    o[1] = -4 * d[1] - 4 * d[2] + d[3] + d[4];
    o[2] = 4 * d[1] - 4 * d[2] - d[3] + d[4];
    o[3] = -2 * d[1] - d[2] + 2 * d[3] + d[4];
    o[4] = 2 * d[1] - d[2] - 2 * d[3] + d[4];
    o[5] = 4 * d[1] - 5 * d[3] + d[5];
}
static inline void b6(v4 d[], const v4 v[]) {
    d[0] = 4 * v[0];
    d[1] = -4 * v[1] + 4 * v[2] - 2 * v[3] + 2 * v[4] + 4 * v[5];
    d[2] = -5 * v[0] - 4 * v[1] - 4 * v[2] - v[3] - v[4];
    d[3] = v[1] - v[2] + 2 * v[3] - 2 * v[4] - 5 * v[5];
    d[4] = v[0] + v[1] + v[2] + v[3] + v[4];
    d[5] = v[5];
}
static inline void at6(float y[], const float m[]) {
    y[0] = m[0] + m[1] + m[2] + m[3] + m[4];
    y[1] = m[1] - m[2] + 2 * m[3] - 2 * m[4];
    y[2] = m[1] + m[2] + 4 * m[3] + 4 * m[4];
    y[3] = m[1] - m[2] + 8 * m[3] - 8 * m[4] + m[5];
}
static inline void a6(float m[], const float y[]) {
    m[0] = y[0];
    m[1] = y[0] + y[1] + y[2] + y[3];
    m[2] = y[0] - y[1] + y[2] - y[3];
    m[3] = y[0] + 2 * y[1] + 4 * y[2] + 8 * y[3];
    m[4] = y[0] - 2 * y[1] + 4 * y[2] - 8 * y[3];
    m[5] = y[3];
}
static inline void g6(v4 u[], const v4 g[]) { /* G's rows: 1/4, -1/6, -1/6, 1/24, 1/24, 1 */
    u[0] = g[0] / 4;
    u[1] = -(g[0] + g[1] + g[2]) / 6;
    u[2] = -(g[0] - g[1] + g[2]) / 6;
    u[3] = (g[0] + 2 * g[1] + 4 * g[2]) / 24;
    u[4] = (g[0] - 2 * g[1] + 4 * g[2]) / 24;
    u[5] = g[2];
}
static inline void gt6(v4 g[], const v4 u[]) {
    g[0] = u[0] / 4 - (u[1] + u[2]) / 6 + (u[3] + u[4]) / 24;
    g[1] = (u[2] - u[1]) / 6 + (u[3] - u[4]) / 12;
    g[2] = (u[3] + u[4] - u[1] - u[2]) / 6 + u[5];
}

/* One of the two: its sizes and transforms. Loop bodies take it as a pointer to one of the two
 * constants below and are inlined where it is fixed, so the sizes and calls are constants there. */
typedef struct {
    int nt, kt, k;                           /* transformed tile, space-to-depth kernel, layer kernel */
    void (*bt)(v4 o[], const v4 d[]);        /* (nt) <- (nt) */
    void (*b)(v4 d[], const v4 v[]);         /* (nt) <- (nt) */
    void (*at)(float y[], const float m[]);  /* (4) <- (nt) */
    void (*a)(float m[], const float y[]);   /* (nt) <- (4) */
    void (*g)(v4 u[], const v4 g[]);         /* (nt) <- (kt) */
    void (*gt)(v4 g[], const v4 u[]);        /* (kt) <- (nt) */
} Variant;
static const Variant F42 = {5, 2, 4, bt5, b5, at5, a5, g5, gt5};
static const Variant F43 = {6, 3, 5, bt6, b6, at6, a6, g6, gt6};
#define INLINE static inline __attribute__((always_inline))
/* f(v, ...) with v one of the two constants, so that f's inlined body has the variant fixed */
#define BY_VARIANT(v, f, ...) ((v) == &F42 ? f(&F42, __VA_ARGS__) : f(&F43, __VA_ARGS__))

static const Variant *variant_of_k(int K) { return K == 4 ? &F42 : &F43; }
static const Variant *variant_of(const ConvGeom *g) { return variant_of_k(g->K); }
static size_t nx_of(const ConvGeom *g) { const int nt = variant_of(g)->nt; return (size_t)nt * nt; }

/* where tap (t, s) of lane l = 2py + px of the space-to-depth kernel lies in a K x K kernel: w[2t+py][2s+px],
 * or -1 past its edge (a 5x5 kernel's phases 1 have no tap t = 2) */
static inline int tap_at(int K, int t, int s, int l) {
    const int r = 2 * t + (l >> 1), q = 2 * s + (l & 1);
    return r < K && q < K ? r * K + q : -1;
}

int wino_fits(const ConvGeom *g) {
    const int k4 = g->K == 4 && g->P == 1, k5 = g->K == 5 && g->P == 2;
    return (k4 || k5) && g->S == 2 && g->Hb == 2 * g->Hs && g->Wb == 2 * g->Ws && g->Hs % 4 == 0 &&
           g->Ws % 4 == 0 && g->Ws <= 512 && g->Cb >= 32 && g->Cs >= 32 &&
           nx_of(g) * g->Cs * 4 * g->Cb <= MAX_U_FLOATS;
}

/* ---- the 2-D transforms: the loops run over (channel, channel) or (channel, image) pairs, each
 * pair's body inlined for its variant ---- */

/* U (NX, Cs, 4Cb) at (k, c) from w (Cs, Cb, K, K) */
INLINE void weights_to_u_one(const Variant *v, float *U, const float *w, int k, int c, int Cb, size_t plane) {
    const int nt = v->nt, kt = v->kt, K = v->k;
    const float *wk = w + ((size_t)k * Cb + c) * K * K;
    v4 cols[KTMAX][NTMAX]; /* cols[s]: G along t of the taps (., s) of the four phases */
    for (int sx = 0; sx < kt; sx++) {
        v4 tap[KTMAX]; /* tap[t]: w[2t+py][2s+px] over the lanes (py, px), 0 beyond the kernel */
        for (int t = 0; t < kt; t++) { /* built whole: gcc 12 took lane stores for reads of uninitialized lanes */
            float f[4];
            for (int l = 0; l < 4; l++) {
                const int at = tap_at(K, t, sx, l);
                f[l] = at >= 0 ? wk[at] : 0.0f;
            }
            tap[t] = (v4){f[0], f[1], f[2], f[3]};
        }
        v->g(cols[sx], tap);
    }
    float *u = U + (size_t)k * 4 * Cb + 4 * (size_t)c;
    for (int a = 0; a < nt; a++) {
        v4 row[KTMAX], r[NTMAX];
        for (int sx = 0; sx < kt; sx++) row[sx] = cols[sx][a];
        v->g(r, row);
        for (int b = 0; b < nt; b++) memcpy(u + (size_t)(a * nt + b) * plane, &r[b], sizeof(v4));
    }
}
static void weights_to_u(const Variant *v, float *U, const float *w, int Cs, int Cb) {
    const size_t plane = plane_of((size_t)Cs * 4 * Cb);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < Cs; k++)
        for (int c = 0; c < Cb; c++) BY_VARIANT(v, weights_to_u_one, U, w, k, c, Cb, plane);
}

/* dw (Cs, Cb, K, K) at (k, c) += G^T dU G, dU (NX, Cs, 4Cb) */
INLINE void du_to_weights_one(const Variant *v, float *dw, const float *dU, int k, int c, int Cb, size_t plane) {
    const int nt = v->nt, kt = v->kt, K = v->k;
    float *wk = dw + ((size_t)k * Cb + c) * K * K;
    const float *u = dU + (size_t)k * 4 * Cb + 4 * (size_t)c;
    v4 rows[KTMAX][NTMAX]; /* rows[s][a]: G^T applied along b, for each a */
    for (int a = 0; a < nt; a++) {
        v4 r[NTMAX], g[KTMAX];
        for (int b = 0; b < nt; b++) memcpy(&r[b], u + (size_t)(a * nt + b) * plane, sizeof(v4));
        v->gt(g, r);
        for (int sx = 0; sx < kt; sx++) rows[sx][a] = g[sx];
    }
    for (int sx = 0; sx < kt; sx++) {
        v4 g[KTMAX]; /* g[t]: tap (t, sx) of the four phases */
        v->gt(g, rows[sx]);
        for (int t = 0; t < kt; t++)
            for (int l = 0; l < 4; l++) {
                const int at = tap_at(K, t, sx, l);
                if (at >= 0) wk[at] += g[t][l];
            }
    }
}
static void du_to_weights(const Variant *v, float *dw, const float *dU, int Cs, int Cb) {
    const size_t plane = plane_of((size_t)Cs * 4 * Cb);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < Cs; k++)
        for (int c = 0; c < Cb; c++) BY_VARIANT(v, du_to_weights_one, dw, dU, k, c, Cb, plane);
}

/* the four phases at columns c0 = 2k - P and c0 + 1 of rows x0 and x1 (NULL: outside), 0 outside */
static inline v4 s2d_at(const float *x0, const float *x1, int c0, int Wb) {
    const int in0 = c0 >= 0 && c0 < Wb, in1 = c0 + 1 >= 0 && c0 + 1 < Wb;
    v4 e = {0, 0, 0, 0};
    if (x0 && in0) e[0] = x0[c0];
    if (x0 && in1) e[1] = x0[c0 + 1];
    if (x1 && in0) e[2] = x1[c0];
    if (x1 && in1) e[3] = x1[c0 + 1];
    return e;
}

/* S[q][q'] ((Hs+P) x (Ws+P) vectors) = the four phases of image x (Hb, Wb) at (q, q'): lanes
 * x[2q+py-P][2q'+px-P], 0 outside the image. Rows and columns inside the image go without checks
 * (the checks took most of big_to_v's time). */
static void image_to_s2d(v4 *S, const float *x, const ConvGeom *g, int P) {
    const int Hb = g->Hb, Wb = g->Wb, W1 = g->Ws + P;
    const int k_lo = (P + 1) / 2, k_hi = (Wb + P - 2) / 2; /* columns 2k-P and 2k-P+1 both inside */
    for (int q = 0; q < g->Hs + P; q++) {
        const int r0 = 2 * q - P, r1 = r0 + 1; /* py = 0, 1 */
        const float *x0 = r0 >= 0 && r0 < Hb ? x + (size_t)r0 * Wb : NULL;
        const float *x1 = r1 >= 0 && r1 < Hb ? x + (size_t)r1 * Wb : NULL;
        v4 *Sq = S + (size_t)q * W1;
        if (!x0 || !x1) {
            for (int k = 0; k < W1; k++) Sq[k] = s2d_at(x0, x1, 2 * k - P, Wb);
            continue;
        }
        for (int k = 0; k < k_lo; k++) Sq[k] = s2d_at(x0, x1, 2 * k - P, Wb);
        for (int k = k_lo; k <= k_hi; k++) {
            const int c0 = 2 * k - P;
            Sq[k] = (v4){x0[c0], x0[c0 + 1], x1[c0], x1[c0 + 1]};
        }
        for (int k = k_hi + 1; k < W1; k++) Sq[k] = s2d_at(x0, x1, 2 * k - P, Wb);
    }
}

/* image x (Hb, Wb) = (or += where add) the phases S[q][q'] put back (the padding's parts dropped):
 * x[r][col] is lane 2py + px of S[q][k] with r + P = 2q + py, col + P = 2k + px, the float at
 * 4k + 2py + px = 2(col + P) - ((col + P) & 1) + 2py of row q */
static void s2d_to_image(float *x, const v4 *S, const ConvGeom *g, int P, int add) {
    const int Hb = g->Hb, Wb = g->Wb, W1 = g->Ws + P;
    for (int r = 0; r < Hb; r++) {
        const int q = (r + P) >> 1, py = (r + P) & 1;
        float *xr = x + (size_t)r * Wb;
        const float *Sq = (const float *)(S + (size_t)q * W1) + 2 * py;
        if (add)
            for (int col = 0; col < Wb; col++) xr[col] += Sq[2 * (col + P) - ((col + P) & 1)];
        else
            for (int col = 0; col < Wb; col++) xr[col] = Sq[2 * (col + P) - ((col + P) & 1)];
    }
}

/* the tiles of image i, channel c into Vt (NX, P, 4Cb): BT d BT^T from the phases S */
INLINE void s2d_to_v_one(const Variant *v, float *Vt, const v4 *S, const ConvGeom *g, int i, int c, size_t plane) {
    const int nt = v->nt, TY = g->Hs / 4, TX = g->Ws / 4, W1 = g->Ws + v->kt - 1;
    const size_t Cp = 4 * (size_t)g->Cb;
    float *vt = Vt + (size_t)i * TY * TX * Cp + 4 * (size_t)c;
    for (int ty = 0; ty < TY; ty++)
        for (int tx = 0; tx < TX; tx++) {
            v4 e[NTMAX][NTMAX]; /* e[u][b]: BT along the row */
            for (int u = 0; u < nt; u++) v->bt(e[u], S + (size_t)(4 * ty + u) * W1 + 4 * tx);
            float *vp = vt + ((size_t)ty * TX + tx) * Cp;
            for (int b = 0; b < nt; b++) {
                v4 col[NTMAX], o[NTMAX];
                for (int u = 0; u < nt; u++) col[u] = e[u][b];
                v->bt(o, col);
                for (int a = 0; a < nt; a++) memcpy(vp + (size_t)(a * nt + b) * plane, &o[a], sizeof(v4));
            }
        }
}

/* Vt (NX, P, 4Cb) of images [b0, b0+nb) of big (Cb, B, Hb, Wb); P = nb * TY * TX */
static void big_to_v(const Variant *v, float *Vt, const float *big, const ConvGeom *g, int b0, int nb) {
    const int W1 = g->Ws + v->kt - 1;
    const size_t plane = plane_of(4 * (size_t)g->Cb * nb * (g->Hs / 4) * (g->Ws / 4));
    #pragma omp parallel
    {
        v4 *S = xmalloc((size_t)(g->Hs + v->kt - 1) * W1 * sizeof(v4));
        #pragma omp for collapse(2) schedule(static)
        for (int i = 0; i < nb; i++)
            for (int c = 0; c < g->Cb; c++) {
                image_to_s2d(S, big + ((size_t)c * g->B + b0 + i) * g->Hb * g->Wb, g, v->kt - 1);
                BY_VARIANT(v, s2d_to_v_one, Vt, S, g, i, c, plane);
            }
        free(S);
    }
}

/* the phases S of image i, channel c = B dV B^T of its tiles in dVt (NX, P, 4Cb), overlaps added */
INLINE void dv_to_s2d_one(const Variant *v, v4 *S, const float *dVt, const ConvGeom *g, int i, int c, size_t plane) {
    const int nt = v->nt, TY = g->Hs / 4, TX = g->Ws / 4, W1 = g->Ws + v->kt - 1;
    const size_t Cp = 4 * (size_t)g->Cb;
    const float *vt = dVt + (size_t)i * TY * TX * Cp + 4 * (size_t)c;
    for (int ty = 0; ty < TY; ty++)
        for (int tx = 0; tx < TX; tx++) {
            const float *vp = vt + ((size_t)ty * TX + tx) * Cp;
            v4 e[NTMAX][NTMAX]; /* e[a][w]: B along b */
            for (int a = 0; a < nt; a++) {
                v4 r[NTMAX];
                for (int b = 0; b < nt; b++) memcpy(&r[b], vp + (size_t)(a * nt + b) * plane, sizeof(v4));
                v->b(e[a], r);
            }
            for (int w = 0; w < nt; w++) {
                v4 r[NTMAX], d[NTMAX];
                for (int a = 0; a < nt; a++) r[a] = e[a][w];
                v->b(d, r);
                for (int u = 0; u < nt; u++) S[(size_t)(4 * ty + u) * W1 + 4 * tx + w] += d[u];
            }
        }
}

/* images [b0, b0+nb) of big (Cb, B, Hb, Wb) = (or += where add) B dV B^T, the overlapping tiles
 * added; dVt is (NX, P, 4Cb) */
static void dv_to_big(const Variant *v, float *big, const float *dVt, const ConvGeom *g, int b0, int nb, int add) {
    const size_t plane = plane_of(4 * (size_t)g->Cb * nb * (g->Hs / 4) * (g->Ws / 4));
    const size_t sn = (size_t)(g->Hs + v->kt - 1) * (g->Ws + v->kt - 1);
    #pragma omp parallel
    {
        v4 *S = xmalloc(sn * sizeof(v4));
        #pragma omp for collapse(2) schedule(static)
        for (int i = 0; i < nb; i++)
            for (int c = 0; c < g->Cb; c++) {
                memset(S, 0, sn * sizeof(v4));
                BY_VARIANT(v, dv_to_s2d_one, S, dVt, g, i, c, plane);
                s2d_to_image(big + ((size_t)c * g->B + b0 + i) * g->Hb * g->Wb, S, g, v->kt - 1, add);
            }
        free(S);
    }
}

/* image i of channel k0 + k of small (Cs, B, Hs, Ws) = AT M AT^T of its tiles in M (NX, kn, P) */
INLINE void m_to_small_one(const Variant *v, float *small, const float *M, const ConvGeom *g, int b0, int nb,
                           int k0, int k, int i, size_t plane) {
    const int nt = v->nt, Hs = g->Hs, Ws = g->Ws, TY = Hs / 4, TX = Ws / 4;
    float *y = small + ((size_t)(k0 + k) * g->B + b0 + i) * Hs * Ws;
    const float *m = M + (size_t)k * nb * TY * TX + (size_t)i * TY * TX;
    for (int ty = 0; ty < TY; ty++)
        for (int tx = 0; tx < TX; tx++) {
            const size_t p = (size_t)ty * TX + tx;
            float t[4][NTMAX]; /* AT applied along a */
            for (int b = 0; b < nt; b++) {
                float col[NTMAX], o[4];
                for (int a = 0; a < nt; a++) col[a] = m[(size_t)(a * nt + b) * plane + p];
                v->at(o, col);
                for (int r = 0; r < 4; r++) t[r][b] = o[r];
            }
            for (int r = 0; r < 4; r++) v->at(y + (size_t)(4 * ty + r) * Ws + 4 * tx, t[r]);
        }
}
/* channels [k0, k0+kn) of images [b0, b0+nb) of small from M (NX, kn, P) */
static void m_to_small(const Variant *v, float *small, const float *M, const ConvGeom *g, int b0, int nb, int k0,
                       int kn) {
    const size_t plane = plane_of((size_t)kn * nb * (g->Hs / 4) * (g->Ws / 4));
    #pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < kn; k++)
        for (int i = 0; i < nb; i++) BY_VARIANT(v, m_to_small_one, small, M, g, b0, nb, k0, k, i, plane);
}

/* the tiles of image i, channel k0 + k into dM (NX, kn, P) = A dy A^T from small (Cs, B, Hs, Ws) */
INLINE void small_to_dm_one(const Variant *v, float *dM, const float *small, const ConvGeom *g, int b0, int nb,
                            int k0, int k, int i, size_t plane) {
    const int nt = v->nt, Hs = g->Hs, Ws = g->Ws, TY = Hs / 4, TX = Ws / 4;
    const float *y = small + ((size_t)(k0 + k) * g->B + b0 + i) * Hs * Ws;
    float *m = dM + (size_t)k * nb * TY * TX + (size_t)i * TY * TX;
    for (int ty = 0; ty < TY; ty++)
        for (int tx = 0; tx < TX; tx++) {
            const size_t p = (size_t)ty * TX + tx;
            float t[4][NTMAX]; /* A applied along each row */
            for (int r = 0; r < 4; r++) v->a(t[r], y + (size_t)(4 * ty + r) * Ws + 4 * tx);
            for (int b = 0; b < nt; b++) {
                float col[4] = {t[0][b], t[1][b], t[2][b], t[3][b]}, o[NTMAX];
                v->a(o, col);
                for (int a = 0; a < nt; a++) m[(size_t)(a * nt + b) * plane + p] = o[a];
            }
        }
}
/* dM (NX, kn, P) of channels [k0, k0+kn) of images [b0, b0+nb) of small */
static void small_to_dm(const Variant *v, float *dM, const float *small, const ConvGeom *g, int b0, int nb, int k0,
                        int kn) {
    const size_t plane = plane_of((size_t)kn * nb * (g->Hs / 4) * (g->Ws / 4));
    #pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < kn; k++)
        for (int i = 0; i < nb; i++) BY_VARIANT(v, small_to_dm_one, dM, small, g, b0, nb, k0, k, i, plane);
}

/* ---- transformed weights kept between calls ----
 * Between two Adam steps D runs forward on the real and on the fake batch and backward-data on both
 * with the same weights, so the same U is wanted four times. Layers whose U is at most
 * CACHE_ENTRY_FLOATS keep it with a copy of the weights it was made from: a call whose weights equal
 * that copy bit for bit (memcmp) reuses it, any other call makes it again. A result is the same
 * bits whether its U came from the cache or not. */
#define CACHE_SLOTS 8
#define CACHE_ENTRY_FLOATS ((size_t)4 << 20)  /* 16 MB */
#define CACHE_TOTAL_FLOATS ((size_t)12 << 20) /* 48 MB for all the layers together */

typedef struct {
    const float *w; /* with Cs, Cb and K: the layer (the bits are checked anyway) */
    int Cs, Cb, K;
    float *wcopy, *U; /* NULL: an empty slot */
    unsigned long used;
} CachedU;

struct WinoCache {
    CachedU e[CACHE_SLOTS];
    unsigned long tick;
};

WinoCache *wino_cache_create(void) { return xcalloc(1, sizeof(WinoCache)); }

static void slot_free(CachedU *e) {
    free(e->wcopy);
    free(e->U);
    memset(e, 0, sizeof *e);
}

void wino_cache_destroy(WinoCache *wc) {
    if (!wc) return;
    for (int i = 0; i < CACHE_SLOTS; i++) slot_free(&wc->e[i]);
    free(wc);
}

static size_t u_floats(int Cs, int Cb, int K) {
    const int nt = variant_of_k(K)->nt;
    return (size_t)nt * nt * plane_of((size_t)Cs * 4 * Cb);
}

/* U of w (Cs, Cb, K, K): the cached one where it is still right, else made again (in the cache, or
 * in scratch_u for a layer too wide to keep) */
static const float *get_u(WinoCache *wc, const Variant *v, const float *w, int Cs, int Cb, float *scratch_u) {
    const int K = v->k;
    const size_t un = u_floats(Cs, Cb, K), wbytes = (size_t)Cs * Cb * K * K * sizeof(float);
    if (!wc || un > CACHE_ENTRY_FLOATS) {
        weights_to_u(v, scratch_u, w, Cs, Cb);
        return scratch_u;
    }
    wc->tick++;
    CachedU *e = NULL;
    for (int i = 0; i < CACHE_SLOTS && !e; i++)
        if (wc->e[i].U && wc->e[i].w == w && wc->e[i].Cs == Cs && wc->e[i].Cb == Cb && wc->e[i].K == K) e = &wc->e[i];
    if (e && !memcmp(e->wcopy, w, wbytes)) {
        e->used = wc->tick;
        return e->U;
    }
    if (!e) { /* a new layer: free the least recently used slots until it fits */
        for (;;) {
            size_t total = un;
            int empty = -1, lru = -1;
            for (int i = 0; i < CACHE_SLOTS; i++) {
                if (!wc->e[i].U) {
                    if (empty < 0) empty = i;
                    continue;
                }
                total += u_floats(wc->e[i].Cs, wc->e[i].Cb, wc->e[i].K);
                if (lru < 0 || wc->e[i].used < wc->e[lru].used) lru = i;
            }
            if (total <= CACHE_TOTAL_FLOATS && empty >= 0) {
                e = &wc->e[empty];
                break;
            }
            slot_free(&wc->e[lru]);
        }
        *e = (CachedU){w, Cs, Cb, K, xmalloc(wbytes), xmalloc(un * sizeof(float)), 0};
    }
    memcpy(e->wcopy, w, wbytes);
    weights_to_u(v, e->U, w, Cs, Cb);
    e->used = wc->tick;
    return e->U;
}

/* ---- the three directions ---- */

/* images per chunk: the fewest equal chunks whose V and M (or dV and dM) fit CHUNK_FLOATS */
static int chunk_images(const ConvGeom *g) {
    const size_t per = nx_of(g) * (g->Hs / 4) * (g->Ws / 4) * (4 * (size_t)g->Cb + g->Cs);
    size_t nb = CHUNK_FLOATS / per;
    if (nb < 1) nb = 1;
    if (nb > (size_t)g->B) nb = g->B;
    const size_t chunks = (g->B + nb - 1) / nb;
    return (int)((g->B + chunks - 1) / chunks);
}

/* The chunk of images from b0 (at most nb of them), for a group of kn output channels: its tile count
 * P and the distances between the planes of U, V and M */
typedef struct {
    int n, P;
    size_t su, sv, sm;
} Chunk;
static Chunk chunk_at(const ConvGeom *g, int nb, int b0, int kn) {
    Chunk k;
    k.n = b0 + nb <= g->B ? nb : g->B - b0;
    k.P = k.n * (g->Hs / 4) * (g->Ws / 4);
    const size_t Cp = 4 * (size_t)g->Cb;
    k.su = plane_of((size_t)kn * Cp);
    k.sv = plane_of(Cp * k.P);
    k.sm = plane_of((size_t)kn * k.P);
    return k;
}

/* output channels per group: all of them where U fits WHOLE_U_FLOATS, else the fewest equal groups
 * whose U fits GROUP_U_FLOATS (grouping costs some speed: dcgan64 -3-4% in 2 groups; seed128 needs it
 * to stay within half of PyTorch's memory, 554 MB in 3 groups, 563 in 2, 623 whole) */
static int group_channels(const ConvGeom *g) {
    const size_t per = nx_of(g) * 4 * (size_t)g->Cb; /* U's floats per output channel */
    if (per * g->Cs <= WHOLE_U_FLOATS) return g->Cs;
    size_t kn = GROUP_U_FLOATS / per;
    if (kn >= (size_t)g->Cs) return g->Cs;
    if (kn < 1) kn = 1;
    const size_t groups = (g->Cs + kn - 1) / kn;
    return (int)((g->Cs + groups - 1) / groups);
}

/* scratch: U (or dU) of kg output channels, then a chunk's V and M (of kg channels) */
static float *scratch_for(DnnlCtx *c, const ConvGeom *g, int nb, int kg, float **V, float **M) {
    const size_t P = (size_t)nb * (g->Hs / 4) * (g->Ws / 4);
    const size_t nx = nx_of(g), un = nx * plane_of((size_t)kg * 4 * g->Cb), vn = nx * plane_of(4 * (size_t)g->Cb * P);
    const size_t mn = nx * plane_of((size_t)kg * P);
    float *s = cpu_scratch_get(dnnl_ctx_scratch(c), (un + vn + mn) * sizeof(float));
    *V = s + un;
    *M = s + un + vn;
    return s;
}

/* The three directions go group by group of output channels (one group where U is small), and in
 * each group chunk by chunk of images: a group's U is made once, each chunk's V again for every
 * group (the other order, each chunk's V once and each group's U again for every chunk, measured no
 * faster: seed128 13.1-14.2 against 13.7-14.9 images/s). Backward-data adds the groups' parts in the
 * image; the weight gradient puts each group's dU into dw when its chunks are done. */

/* U of output channels [k0, k0+kn): the whole layer's (kept between calls where small, get_u), or
 * one group's, made into scratch_u */
static const float *group_u(WinoCache *wc, const Variant *v, const ConvGeom *g, const float *w, int k0, int kn,
                            float *scratch_u) {
    if (kn == g->Cs) return get_u(wc, v, w, g->Cs, g->Cb, scratch_u);
    return get_u(NULL, v, w + (size_t)k0 * g->Cb * v->k * v->k, kn, g->Cb, scratch_u);
}

void wino_conv_fwd(DnnlCtx *c, WinoCache *wc, const ConvGeom *g, float *small, const float *big, const float *w) {
    const Variant *v = variant_of(g);
    const int nb = chunk_images(g), kg = group_channels(g), Cp = 4 * g->Cb, nx = (int)nx_of(g);
    float *V, *M, *Us = scratch_for(c, g, nb, kg, &V, &M);
    for (int k0 = 0; k0 < g->Cs; k0 += kg) {
        const int kn = k0 + kg <= g->Cs ? kg : g->Cs - k0;
        const float *U = group_u(wc, v, g, w, k0, kn, Us);
        for (int b0 = 0; b0 < g->B; b0 += nb) {
            const Chunk k = chunk_at(g, nb, b0, kn);
            big_to_v(v, V, big, g, b0, k.n);
            dnnl_batched_matmul(c, nx, kn, k.P, Cp, 0, 1, 0, U, k.su, V, k.sv, M, k.sm); /* M = U . V, V stored (P, 4Cb) */
            m_to_small(v, small, M, g, b0, k.n, k0, kn);
        }
    }
}

void wino_conv_bwd_data(DnnlCtx *c, WinoCache *wc, const ConvGeom *g, float *big, const float *small,
                        const float *w) {
    const Variant *v = variant_of(g);
    const int nb = chunk_images(g), kg = group_channels(g), Cp = 4 * g->Cb, nx = (int)nx_of(g);
    float *dV, *dM, *Us = scratch_for(c, g, nb, kg, &dV, &dM);
    for (int k0 = 0; k0 < g->Cs; k0 += kg) {
        const int kn = k0 + kg <= g->Cs ? kg : g->Cs - k0;
        const float *U = group_u(wc, v, g, w, k0, kn, Us);
        for (int b0 = 0; b0 < g->B; b0 += nb) {
            const Chunk k = chunk_at(g, nb, b0, kn);
            small_to_dm(v, dM, small, g, b0, k.n, k0, kn);
            dnnl_batched_matmul(c, nx, k.P, Cp, kn, 1, 0, 0, dM, k.sm, U, k.su, dV, k.sv); /* dV^T = dM^T . U */
            dv_to_big(v, big, dV, g, b0, k.n, k0 > 0);
        }
    }
}

void wino_conv_bwd_weights(DnnlCtx *c, const ConvGeom *g, float *dw, const float *big, const float *small) {
    const Variant *v = variant_of(g);
    const int nb = chunk_images(g), kg = group_channels(g), Cp = 4 * g->Cb, nx = (int)nx_of(g);
    float *V, *dM, *dU = scratch_for(c, g, nb, kg, &V, &dM);
    for (int k0 = 0; k0 < g->Cs; k0 += kg) {
        const int kn = k0 + kg <= g->Cs ? kg : g->Cs - k0;
        for (int b0 = 0; b0 < g->B; b0 += nb) {
            const Chunk k = chunk_at(g, nb, b0, kn);
            big_to_v(v, V, big, g, b0, k.n);
            small_to_dm(v, dM, small, g, b0, k.n, k0, kn);
            /* dU (+)= dM . V^T over the chunks, V stored (P, 4Cb) */
            dnnl_batched_matmul(c, nx, kn, Cp, k.P, 0, 0, b0 > 0, dM, k.sm, V, k.sv, dU, k.su);
        }
        du_to_weights(v, dw + (size_t)k0 * g->Cb * v->k * v->k, dU, kn, g->Cb);
    }
}
#else
typedef int dcgan_cpu_winograd_unused; /* ISO C wants a translation unit to declare something */
#endif
