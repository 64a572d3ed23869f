/* cpu_winograd.c: the dcgan family's inner layers (4x4 kernel, stride 2, padding 1) by Winograd
 * F(4x4, 2x2) on their space-to-depth form, for the CPU backend with oneDNN (see cpu_winograd.h).
 *
 * Space-to-depth: pad the big image by one pixel and split it into its four phases (py, px) of
 * rows and columns; phase (py, px) of channel c is channel c' = 4c + 2py + px of an image of
 * (Hs+1) x (Ws+1) pixels, X'[c'][q][q'] = big[c][2q+py-1][2q'+px-1] (0 outside). The 4x4 stride-2
 * convolution is then a 2x2 stride-1 one over 4*Cb channels:
 *   small[k][oy][ox] = sum_c' sum_{t,s<2} X'[c'][oy+t][ox+s] g[k][c'][t][s],
 *   g[k][4c+2py+px][t][s] = w[k][c][2t+py][2s+px].
 * F(4x4, 2x2) computes a 4x4 tile of it from a 5x5 tile of X' with 25 products per channel pair
 * instead of 64 (points 0, 1, -1, 2, infinity; the input transform BT has integer entries):
 *   U = G g G^T (5x5 per (k, c')),  V = BT d BT^T (5x5 per (c', tile)),
 *   M[xi] = U[xi] . V[xi] (one matrix product per xi < 25, over c'),  y = AT M AT^T (4x4).
 * The 25 products run as one batched oneDNN matmul. Backward-data is the transpose of that chain
 * (dM = A dy A^T, dV[xi] = U[xi]^T dM[xi], dx += B dV B^T, overlapping tiles added), the weight
 * gradient dU[xi] = dM[xi] V[xi]^T, dg = G^T dU G.
 *
 * Tiles are numbered p = (image * TY + ty) * TX + tx with TY = Hs/4, TX = Ws/4. V and dV are stored
 * transposed, [25][P][4Cb] (the four phases of a channel side by side), M and dM [25][Cs][P], U and
 * dU [25][Cs][4Cb]; each of the 25 planes starts plane_of() floats after the one before. The batch goes in equal chunks of images so that V and M stay within
 * CHUNK_FLOATS; U is kept between calls for the narrower layers (get_u). Every loop has a fixed
 * order: the same inputs and thread count give the same bits. */
#ifdef DCGAN_HAVE_DNNL
#include "cpu_winograd.h"
#include "../core/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NT 5 /* tile of the transformed domain: 5x5 */
#define NX (NT * NT)
#define CHUNK_FLOATS ((size_t)8 << 20) /* V and M of one chunk of images: 32 MB */
#define MAX_U_FLOATS ((size_t)16 << 20) /* U: 64 MB; wider layers keep oneDNN's direct kernels */

/* Floats from one of the 25 planes of a transformed tensor to the next, for planes of n floats: n
 * rounded up to 16, and 16 more where that is a multiple of 256, so that the planes do not all fall
 * on the same cache sets (a power-of-two distance made the transforms 10x slower). */
static size_t plane_of(size_t n) {
    const size_t p = (n + 15) & ~(size_t)15;
    return p % 256 ? p : p + 16;
}

int wino_fits(const ConvGeom *g) {
    return g->K == 4 && g->S == 2 && g->P == 1 && g->Hb == 2 * g->Hs && g->Wb == 2 * g->Ws && g->Hs % 4 == 0 &&
           g->Ws % 4 == 0 && g->Ws <= 512 && g->Cb >= 32 && g->Cs >= 32 && (size_t)NX * g->Cs * 4 * g->Cb <= MAX_U_FLOATS;
}

/* ---- the 1-D transforms (rows of the matrices above) ----
 * The big side's and the weights' run on the four phases of a channel at once, as 4-wide vectors
 * (lane 2py + px, the order of c' = 4c + 2py + px), so that V, dV, U and dU take each as one
 * 16-byte store or load; the small side's are scalar. */
typedef float v4 __attribute__((vector_size(16)));

/* o = BT d: the input transform */
static inline void bt5(v4 o[NT], v4 d0, v4 d1, v4 d2, v4 d3, v4 d4) {
    o[0] = 2 * d0 - d1 - 2 * d2 + d3;
    o[1] = 2 * d1 + d2 - d3;
    o[2] = -2 * d1 + 3 * d2 - d3;
    o[3] = d3 - d1;
    o[4] = 2 * d1 - d2 - 2 * d3 + d4;
}
/* d = B v (BT's transpose): backward-data's last step */
static inline void b5(v4 d[NT], const v4 v[NT]) {
    d[0] = 2 * v[0];
    d[1] = -v[0] + 2 * v[1] - 2 * v[2] - v[3] + 2 * v[4];
    d[2] = -2 * v[0] + v[1] + 3 * v[2] - v[4];
    d[3] = v[0] - v[1] - v[2] + v[3] - 2 * v[4];
    d[4] = v[4];
}
/* y = AT m: the output transform */
static inline void at5(float y[4], const float m[NT]) {
    y[0] = m[0] + m[1] + m[2] + m[3];
    y[1] = m[1] - m[2] + 2 * m[3];
    y[2] = m[1] + m[2] + 4 * m[3];
    y[3] = m[1] - m[2] + 8 * m[3] + m[4];
}
/* m = A y (AT's transpose): dy into the transformed domain */
static inline void a5(float m[NT], const float y[4]) {
    m[0] = y[0];
    m[1] = y[0] + y[1] + y[2] + y[3];
    m[2] = y[0] - y[1] + y[2] - y[3];
    m[3] = y[0] + 2 * y[1] + 4 * y[2] + 8 * y[3];
    m[4] = y[3];
}
/* u = G g: the weight transform (G's rows are scaled by 1/2, 1/2, 1/6, 1/6, 1 against BT's), by
 * division (each value rounded once) rather than by a rounded 1/6 */
static inline void g5(v4 u[NT], v4 g0, v4 g1) {
    u[0] = g0 / 2;
    u[1] = (g0 + g1) / 2;
    u[2] = (g0 - g1) / 6;
    u[3] = (g0 + 2 * g1) / 6;
    u[4] = g1;
}
/* g = G^T u: the weight gradient back from the transformed domain */
static inline void gt5(v4 g[2], const v4 u[NT]) {
    g[0] = (u[0] + u[1]) / 2 + (u[2] + u[3]) / 6;
    g[1] = u[1] / 2 + (2 * u[3] - u[2]) / 6 + u[4];
}

/* ---- the 2-D transforms ---- */

/* U (25, Cs, 4Cb) from w (Cs, Cb, 4, 4) */
static void weights_to_u(float *U, const float *w, int Cs, int Cb) {
    const size_t Cp = 4 * (size_t)Cb, plane = plane_of((size_t)Cs * Cp);
    #pragma omp parallel for schedule(static)
    for (int k = 0; k < Cs; k++)
        for (int c = 0; c < Cb; c++) {
            const float *wk = w + ((size_t)k * Cb + c) * 16;
            v4 g[2][2]; /* g[t][s]: the four phases' tap (t, s), w[2t+py][2s+px] */
            for (int t = 0; t < 2; t++)
                for (int sx = 0; sx < 2; sx++) {
                    const float *w0 = wk + 2 * t * 4 + 2 * sx;
                    g[t][sx] = (v4){w0[0], w0[1], w0[4], w0[5]};
                }
            v4 col0[NT], col1[NT]; /* G applied along t, for s = 0 and s = 1 */
            g5(col0, g[0][0], g[1][0]);
            g5(col1, g[0][1], g[1][1]);
            float *u = U + (size_t)k * Cp + 4 * (size_t)c;
            for (int a = 0; a < NT; a++) {
                v4 r[NT];
                g5(r, col0[a], col1[a]);
                for (int b = 0; b < NT; b++) memcpy(u + (size_t)(a * NT + b) * plane, &r[b], sizeof(v4));
            }
        }
}

/* dw (Cs, Cb, 4, 4) += G^T dU G, dU (25, Cs, 4Cb) */
static void du_to_weights(float *dw, const float *dU, int Cs, int Cb) {
    const size_t Cp = 4 * (size_t)Cb, plane = plane_of((size_t)Cs * Cp);
    #pragma omp parallel for schedule(static)
    for (int k = 0; k < Cs; k++)
        for (int c = 0; c < Cb; c++) {
            float *wk = dw + ((size_t)k * Cb + c) * 16;
            const float *u = dU + (size_t)k * Cp + 4 * (size_t)c;
            v4 rows[2][NT]; /* G^T applied along b, for each a */
            for (int a = 0; a < NT; a++) {
                v4 r[NT], g[2];
                for (int b = 0; b < NT; b++) memcpy(&r[b], u + (size_t)(a * NT + b) * plane, sizeof(v4));
                gt5(g, r);
                rows[0][a] = g[0];
                rows[1][a] = g[1];
            }
            for (int sx = 0; sx < 2; sx++) {
                v4 g[2]; /* g[t]: tap (t, sx) of the four phases */
                gt5(g, rows[sx]);
                for (int t = 0; t < 2; t++) {
                    float *w0 = wk + 2 * t * 4 + 2 * sx;
                    w0[0] += g[t][0];
                    w0[1] += g[t][1];
                    w0[4] += g[t][2];
                    w0[5] += g[t][3];
                }
            }
        }
}

/* S[q][q'] ((Hs+1) x (Ws+1) vectors) = the four phases of image x (Hb, Wb) at (q, q'): lanes
 * x[2q+py-1][2q'+px-1], 0 outside the image */
static void image_to_s2d(v4 *S, const float *x, const ConvGeom *g) {
    const int Hb = g->Hb, Wb = g->Wb, W1 = g->Ws + 1;
    for (int q = 0; q <= g->Hs; q++) {
        const int r0 = 2 * q - 1, r1 = 2 * q; /* py = 0, 1 */
        const float *x0 = r0 >= 0 ? x + (size_t)r0 * Wb : NULL, *x1 = r1 < Hb ? x + (size_t)r1 * Wb : NULL;
        for (int k = 0; k < W1; k++) {
            const int c0 = 2 * k - 1, c1 = 2 * k; /* px = 0, 1 */
            v4 e = {0, 0, 0, 0};
            if (x0 && c0 >= 0) e[0] = x0[c0];
            if (x0 && c1 < Wb) e[1] = x0[c1];
            if (x1 && c0 >= 0) e[2] = x1[c0];
            if (x1 && c1 < Wb) e[3] = x1[c1];
            S[(size_t)q * W1 + k] = e;
        }
    }
}

/* image x (Hb, Wb) = the phases S[q][q'] put back (the padding's parts dropped) */
static void s2d_to_image(float *x, const v4 *S, const ConvGeom *g) {
    const int Hb = g->Hb, Wb = g->Wb, W1 = g->Ws + 1;
    for (int r = 0; r < Hb; r++) {
        const int q = (r + 1) >> 1, py = (r + 1) & 1;
        float *xr = x + (size_t)r * Wb;
        const v4 *Sq = S + (size_t)q * W1;
        for (int col = 0; col < Wb; col++) {
            const int k = (col + 1) >> 1, px = (col + 1) & 1;
            xr[col] = Sq[k][2 * py + px];
        }
    }
}

/* Vt (25, P, 4Cb) of images [b0, b0+nb) of big (Cb, B, Hb, Wb); P = nb * TY * TX */
static void big_to_v(float *Vt, const float *big, const ConvGeom *g, int b0, int nb) {
    const int TY = g->Hs / 4, TX = g->Ws / 4, T = TY * TX, W1 = g->Ws + 1;
    const size_t Cp = 4 * (size_t)g->Cb, P = (size_t)nb * T, plane = plane_of(Cp * P);
    #pragma omp parallel
    {
        v4 *S = xmalloc((size_t)(g->Hs + 1) * W1 * sizeof(v4));
        #pragma omp for collapse(2) schedule(static)
        for (int i = 0; i < nb; i++)
            for (int c = 0; c < g->Cb; c++) {
                image_to_s2d(S, big + ((size_t)c * g->B + b0 + i) * g->Hb * g->Wb, g);
                float *v = Vt + (size_t)i * T * Cp + 4 * (size_t)c;
                for (int ty = 0; ty < TY; ty++)
                    for (int tx = 0; tx < TX; tx++) {
                        v4 e[NT][NT]; /* e[u][b]: BT along the row */
                        for (int u = 0; u < NT; u++) {
                            const v4 *s = S + (size_t)(4 * ty + u) * W1 + 4 * tx;
                            bt5(e[u], s[0], s[1], s[2], s[3], s[4]);
                        }
                        float *vp = v + ((size_t)ty * TX + tx) * Cp;
                        for (int b = 0; b < NT; b++) {
                            v4 o[NT];
                            bt5(o, e[0][b], e[1][b], e[2][b], e[3][b], e[4][b]);
                            for (int a = 0; a < NT; a++) memcpy(vp + (size_t)(a * NT + b) * plane, &o[a], sizeof(v4));
                        }
                    }
            }
        free(S);
    }
}

/* images [b0, b0+nb) of big (Cb, B, Hb, Wb) = B dV B^T, the overlapping tiles added (overwrites);
 * dVt is (25, P, 4Cb) */
static void dv_to_big(float *big, const float *dVt, const ConvGeom *g, int b0, int nb) {
    const int TY = g->Hs / 4, TX = g->Ws / 4, T = TY * TX, W1 = g->Ws + 1;
    const size_t Cp = 4 * (size_t)g->Cb, P = (size_t)nb * T, plane = plane_of(Cp * P);
    const size_t sn = (size_t)(g->Hs + 1) * W1;
    #pragma omp parallel
    {
        v4 *S = xmalloc(sn * sizeof(v4));
        #pragma omp for collapse(2) schedule(static)
        for (int i = 0; i < nb; i++)
            for (int c = 0; c < g->Cb; c++) {
                memset(S, 0, sn * sizeof(v4));
                const float *v = dVt + (size_t)i * T * Cp + 4 * (size_t)c;
                for (int ty = 0; ty < TY; ty++)
                    for (int tx = 0; tx < TX; tx++) {
                        const float *vp = v + ((size_t)ty * TX + tx) * Cp;
                        v4 e[NT][NT]; /* e[a][w]: B along b */
                        for (int a = 0; a < NT; a++) {
                            v4 r[NT];
                            for (int b = 0; b < NT; b++) memcpy(&r[b], vp + (size_t)(a * NT + b) * plane, sizeof(v4));
                            b5(e[a], r);
                        }
                        for (int w = 0; w < NT; w++) {
                            v4 r[NT], d[NT];
                            for (int a = 0; a < NT; a++) r[a] = e[a][w];
                            b5(d, r);
                            for (int u = 0; u < NT; u++) S[(size_t)(4 * ty + u) * W1 + 4 * tx + w] += d[u];
                        }
                    }
                s2d_to_image(big + ((size_t)c * g->B + b0 + i) * g->Hb * g->Wb, S, g);
            }
        free(S);
    }
}

/* images [b0, b0+nb) of small (Cs, B, Hs, Ws) = AT M AT^T */
static void m_to_small(float *small, const float *M, const ConvGeom *g, int b0, int nb) {
    const int Hs = g->Hs, Ws = g->Ws, TY = Hs / 4, TX = Ws / 4;
    const size_t P = (size_t)nb * TY * TX, plane = plane_of((size_t)g->Cs * P);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < g->Cs; k++)
        for (int i = 0; i < nb; i++) {
            float *y = small + ((size_t)k * g->B + b0 + i) * Hs * Ws;
            const float *m = M + (size_t)k * P + (size_t)i * TY * TX;
            for (int ty = 0; ty < TY; ty++)
                for (int tx = 0; tx < TX; tx++) {
                    const size_t p = (size_t)ty * TX + tx;
                    float t[4][NT]; /* AT applied along a */
                    for (int b = 0; b < NT; b++) {
                        float col[NT], o[4];
                        for (int a = 0; a < NT; a++) col[a] = m[(size_t)(a * NT + b) * plane + p];
                        at5(o, col);
                        for (int r = 0; r < 4; r++) t[r][b] = o[r];
                    }
                    for (int r = 0; r < 4; r++) at5(y + (size_t)(4 * ty + r) * Ws + 4 * tx, t[r]);
                }
        }
}

/* dM (25, Cs, P) = A dy A^T of images [b0, b0+nb) of small (Cs, B, Hs, Ws) */
static void small_to_dm(float *dM, const float *small, const ConvGeom *g, int b0, int nb) {
    const int Hs = g->Hs, Ws = g->Ws, TY = Hs / 4, TX = Ws / 4;
    const size_t P = (size_t)nb * TY * TX, plane = plane_of((size_t)g->Cs * P);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < g->Cs; k++)
        for (int i = 0; i < nb; i++) {
            const float *y = small + ((size_t)k * g->B + b0 + i) * Hs * Ws;
            float *m = dM + (size_t)k * P + (size_t)i * TY * TX;
            for (int ty = 0; ty < TY; ty++)
                for (int tx = 0; tx < TX; tx++) {
                    const size_t p = (size_t)ty * TX + tx;
                    float t[4][NT]; /* A applied along each row */
                    for (int r = 0; r < 4; r++) a5(t[r], y + (size_t)(4 * ty + r) * Ws + 4 * tx);
                    for (int b = 0; b < NT; b++) {
                        float col[4] = {t[0][b], t[1][b], t[2][b], t[3][b]}, o[NT];
                        a5(o, col);
                        for (int a = 0; a < NT; a++) m[(size_t)(a * NT + b) * plane + p] = o[a];
                    }
                }
        }
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
    const float *w; /* with Cs and Cb: the layer (the bits are checked anyway) */
    int Cs, Cb;
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

static size_t u_floats(int Cs, int Cb) { return NX * plane_of((size_t)Cs * 4 * Cb); }

/* U of w (Cs, Cb, 4, 4): the cached one where it is still right, else made again (in the cache, or
 * in scratch_u for a layer too wide to keep) */
static const float *get_u(WinoCache *wc, const float *w, int Cs, int Cb, float *scratch_u) {
    const size_t un = u_floats(Cs, Cb), wbytes = (size_t)Cs * Cb * 16 * sizeof(float);
    if (!wc || un > CACHE_ENTRY_FLOATS) {
        weights_to_u(scratch_u, w, Cs, Cb);
        return scratch_u;
    }
    wc->tick++;
    CachedU *e = NULL;
    for (int i = 0; i < CACHE_SLOTS && !e; i++)
        if (wc->e[i].U && wc->e[i].w == w && wc->e[i].Cs == Cs && wc->e[i].Cb == Cb) e = &wc->e[i];
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
                total += u_floats(wc->e[i].Cs, wc->e[i].Cb);
                if (lru < 0 || wc->e[i].used < wc->e[lru].used) lru = i;
            }
            if (total <= CACHE_TOTAL_FLOATS && empty >= 0) {
                e = &wc->e[empty];
                break;
            }
            slot_free(&wc->e[lru]);
        }
        *e = (CachedU){w, Cs, Cb, xmalloc(wbytes), xmalloc(un * sizeof(float)), 0};
    }
    memcpy(e->wcopy, w, wbytes);
    weights_to_u(e->U, w, Cs, Cb);
    e->used = wc->tick;
    return e->U;
}

/* ---- the three directions ---- */

/* images per chunk: the fewest equal chunks whose V and M (or dV and dM) fit CHUNK_FLOATS */
static int chunk_images(const ConvGeom *g) {
    const size_t per = (size_t)NX * (g->Hs / 4) * (g->Ws / 4) * (4 * (size_t)g->Cb + g->Cs);
    size_t nb = CHUNK_FLOATS / per;
    if (nb < 1) nb = 1;
    if (nb > (size_t)g->B) nb = g->B;
    const size_t chunks = (g->B + nb - 1) / nb;
    return (int)((g->B + chunks - 1) / chunks);
}

/* The chunk of images from b0 (at most nb of them): its tile count P and the distances between the
 * 25 planes of U, V and M */
typedef struct {
    int n, P;
    size_t su, sv, sm;
} Chunk;
static Chunk chunk_at(const ConvGeom *g, int nb, int b0) {
    Chunk k;
    k.n = b0 + nb <= g->B ? nb : g->B - b0;
    k.P = k.n * (g->Hs / 4) * (g->Ws / 4);
    const size_t Cp = 4 * (size_t)g->Cb;
    k.su = plane_of((size_t)g->Cs * Cp);
    k.sv = plane_of(Cp * k.P);
    k.sm = plane_of((size_t)g->Cs * k.P);
    return k;
}

/* scratch: U (or dU), then a chunk's V and M */
static float *scratch_for(DnnlCtx *c, const ConvGeom *g, int nb, float **V, float **M) {
    const size_t P = (size_t)nb * (g->Hs / 4) * (g->Ws / 4);
    const size_t un = NX * plane_of((size_t)g->Cs * 4 * g->Cb), vn = NX * plane_of(4 * (size_t)g->Cb * P);
    const size_t mn = NX * plane_of((size_t)g->Cs * P);
    float *s = cpu_scratch_get(dnnl_ctx_scratch(c), (un + vn + mn) * sizeof(float));
    *V = s + un;
    *M = s + un + vn;
    return s;
}

void wino_conv_fwd(DnnlCtx *c, WinoCache *wc, const ConvGeom *g, float *small, const float *big, const float *w) {
    const int nb = chunk_images(g), Cp = 4 * g->Cb;
    float *V, *M;
    const float *U = get_u(wc, w, g->Cs, g->Cb, scratch_for(c, g, nb, &V, &M));
    for (int b0 = 0; b0 < g->B; b0 += nb) {
        const Chunk k = chunk_at(g, nb, b0);
        big_to_v(V, big, g, b0, k.n);
        dnnl_batched_matmul(c, NX, g->Cs, k.P, Cp, 0, 1, 0, U, k.su, V, k.sv, M, k.sm); /* M = U . V, V stored (P, 4Cb) */
        m_to_small(small, M, g, b0, k.n);
    }
}

void wino_conv_bwd_data(DnnlCtx *c, WinoCache *wc, const ConvGeom *g, float *big, const float *small,
                        const float *w) {
    const int nb = chunk_images(g), Cp = 4 * g->Cb;
    float *dV, *dM;
    const float *U = get_u(wc, w, g->Cs, g->Cb, scratch_for(c, g, nb, &dV, &dM));
    for (int b0 = 0; b0 < g->B; b0 += nb) {
        const Chunk k = chunk_at(g, nb, b0);
        small_to_dm(dM, small, g, b0, k.n);
        dnnl_batched_matmul(c, NX, k.P, Cp, g->Cs, 1, 0, 0, dM, k.sm, U, k.su, dV, k.sv); /* dV^T = dM^T . U */
        dv_to_big(big, dV, g, b0, k.n);
    }
}

void wino_conv_bwd_weights(DnnlCtx *c, const ConvGeom *g, float *dw, const float *big, const float *small) {
    const int nb = chunk_images(g), Cp = 4 * g->Cb;
    float *V, *dM, *dU = scratch_for(c, g, nb, &V, &dM);
    for (int b0 = 0; b0 < g->B; b0 += nb) {
        const Chunk k = chunk_at(g, nb, b0);
        big_to_v(V, big, g, b0, k.n);
        small_to_dm(dM, small, g, b0, k.n);
        /* dU (+)= dM . V^T, V stored (P, 4Cb) */
        dnnl_batched_matmul(c, NX, g->Cs, Cp, k.P, 0, 0, b0 > 0, dM, k.sm, V, k.sv, dU, k.su);
    }
    du_to_weights(dw, dU, g->Cs, g->Cb);
}
#else
typedef int dcgan_cpu_winograd_unused; /* ISO C wants a translation unit to declare something */
#endif
