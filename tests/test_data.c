/* test_data.c: the folder loader on a generated set of odd files, and IDX reading.
 * Valid: PNG (gray, RGB, RGBA, palette, 16-bit), JPEG, BMP, GIF, TGA, PGM/PPM, of mixed sizes and
 * nested folders. Bad: truncated, zero-byte, not an image, a huge declared size, an unsupported
 * BMP variant, a symlink loop and a folder loop. The bad ones must be skipped and reported; the
 * good ones decoded, converted and resized correctly. The batch loader's random mirroring: every
 * image comes out whole, as itself or its mirror image as loader_mirrored says, the same at resume
 * and for any rank count. The PNG encoder: every shape and colour mode decodes (by stb_image) to the
 * same pixels. The run folder's background writer (io/writer.h): jobs in order, the bound on what
 * waits, a failed job's error and the jobs after it dropped, with and without its thread.
 * usage: test_data SCRATCH_DIR */
#include "fixture.h"
#include "../src/data/dataset.h"
#include "../src/data/loader.h"
#include "../src/core/rng.h"
#include "../src/io/image_io.h"
#include "../src/io/fileio.h"
#include "../src/io/writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <stb_image.h>

int stbi_write_png(char const *filename, int w, int h, int comp, const void *data, int stride_in_bytes);
int stbi_write_bmp(char const *filename, int w, int h, int comp, const void *data);
int stbi_write_tga(char const *filename, int w, int h, int comp, const void *data);
int stbi_write_jpg(char const *filename, int w, int h, int comp, const void *data, int quality);

#define check fx_expect

static void put_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) { perror(path); exit(1); }
    fclose(f);
}

/* A PNG written by hand, for the variants stb_image_write cannot make (palette, 16-bit). */
static void png_chunk(FILE *f, const char *type, const unsigned char *d, unsigned n) {
    unsigned char b[4] = {n >> 24, n >> 16, n >> 8, n};
    fwrite(b, 1, 4, f);
    fwrite(type, 1, 4, f);
    if (n) fwrite(d, 1, n, f);
    uLong c = crc32(crc32(0, (const Bytef *)type, 4), d, n);
    unsigned char cb[4] = {c >> 24, c >> 16, c >> 8, c};
    fwrite(cb, 1, 4, f);
}
/* data_h rows of image data follow the header (fewer than h makes a file that lies about its size) */
static void png_raw(const char *path, int w, int h, int ctype, int depth, const unsigned char *plte, int nplte,
                    const unsigned char *rows, size_t rowbytes, int data_h) {
    FILE *f = fopen(path, "wb");
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    unsigned char ihdr[13] = {w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h, depth, ctype, 0, 0, 0};
    png_chunk(f, "IHDR", ihdr, 13);
    if (plte) png_chunk(f, "PLTE", plte, nplte * 3);
    size_t rawn = (rowbytes + 1) * data_h;
    unsigned char *raw = calloc(rawn, 1);
    for (int y = 0; y < data_h; y++) memcpy(raw + y * (rowbytes + 1) + 1, rows + y * rowbytes, rowbytes);
    uLongf zn = compressBound(rawn);
    unsigned char *z = malloc(zn);
    compress(z, &zn, raw, rawn);
    png_chunk(f, "IDAT", z, (unsigned)zn);
    png_chunk(f, "IEND", NULL, 0);
    fclose(f);
    free(raw);
    free(z);
}

/* Which image of ds (NCHW uint8) out (C, S, S floats in [-1, 1]) is, and whether mirrored:
 * returns the index, -1 when none; *mirrored 0 or 1. */
static int identify(const Dataset *ds, const float *out, int *mirrored) {
    const int C = ds->channels, S = ds->size;
    for (int i = 0; i < ds->n; i++)
        for (int m = 0; m < 2; m++) {
            int same = 1;
            for (int c = 0; c < C && same; c++)
                for (int y = 0; y < S && same; y++)
                    for (int x = 0; x < S; x++) {
                        const int sx = m ? S - 1 - x : x;
                        const float want = ds->pixels[(((size_t)i * C + c) * S + y) * S + sx] * (2.0f / 255.0f) - 1.0f;
                        if (out[((size_t)c * S + y) * S + x] != want) { same = 0; break; }
                    }
            if (same) { *mirrored = m; return i; }
        }
    return -1;
}

/* PNG round trips: random pixels (no filter helps), smooth ramps with flat runs (every filter has
 * rows to win) and one-pixel images, in gray, gray + alpha, RGB and RGBA. */
static void test_png_encode(void) {
    Rng r;
    rng_seed(&r, 3, 0);
    const int sizes[4][2] = {{1, 1}, {7, 3}, {64, 33}, {530, 21}};
    int all = 1, cases = 0;
    size_t random_bytes = 0, smooth_bytes = 0, random_raw = 0, smooth_raw = 0;
    for (int comp = 1; comp <= 4; comp++)
        for (int s = 0; s < 4; s++)
            for (int kind = 0; kind < 2; kind++) {
                const int w = sizes[s][0], h = sizes[s][1];
                const size_t n = (size_t)w * h * comp;
                unsigned char *pix = malloc(n);
                for (size_t i = 0; i < n; i++) {
                    const size_t x = i / comp % w, y = i / comp / w, k = i % comp;
                    pix[i] = kind ? (unsigned char)(x < (size_t)w / 3 ? 40 : (x * 3 + y * 5 + k * 60) % 256)
                                  : (unsigned char)(rng_u64(&r) >> 56);
                }
                int len = 0;
                unsigned char *png = png_encode(pix, w, h, comp, &len);
                int dw = 0, dh = 0, dc = 0;
                unsigned char *back = png ? stbi_load_from_memory(png, len, &dw, &dh, &dc, comp) : NULL;
                const int same = back && dw == w && dh == h && dc == comp && !memcmp(back, pix, n);
                if (!same) printf("  PNG %dx%d comp %d (%s) does not come back: decoded %dx%d comp %d\n", w, h, comp,
                                  kind ? "smooth" : "random", dw, dh, dc);
                all &= same;
                cases++;
                if (s == 2) {
                    if (kind) { smooth_bytes += (size_t)len; smooth_raw += n; }
                    else { random_bytes += (size_t)len; random_raw += n; }
                }
                stbi_image_free(back);
                free(png);
                free(pix);
            }
    printf("  PNG at 64x33: random pixels %zu bytes of %zu raw, smooth %zu of %zu\n", random_bytes, random_raw, smooth_bytes,
           smooth_raw);
    char what[96];
    snprintf(what, sizeof what, "the PNG encoder's %d images decode to the same pixels (stb_image)", cases);
    check(all, what);
    check(smooth_bytes * 10 < smooth_raw, "smooth images compress over 10x (the filters and deflate work)");
    int len = 0;
    unsigned char one = 0;
    check(!png_encode(&one, 0, 1, 1, &len) && !png_encode(&one, 1, 1, 5, &len), "png_encode refuses no pixels and 5 channels");
    /* the size limit, at its edge: 1 GiB of pixel bytes (checked without pixels: png_fits) */
    check(png_fits(32768, 32768, 1) && !png_fits(32768, 32769, 1) && png_fits(16384, 21845, 3) &&
              !png_fits(16384, 21846, 3) && !png_fits(1 << 30, 2, 1),
          "png_fits: at most 1 GiB of pixel bytes");
    char err[256];
    check(png_write_u8("/tmp/never-written.png", &one, 40000, 40000, 1, NULL, NULL, err, sizeof err) != 0 &&
              strstr(err, "40000 x 40000 pixels are more than the 1 GiB") != NULL,
          "png_write_u8 refuses an image past the limit in one line, before reading its pixels");
    int gw, gh, gc;
    grid_shape(10, 3, 32, 4, &gw, &gh, &gc);
    check(gw == 4 * 34 + 2 && gh == 3 * 34 + 2 && gc == 3, "grid_shape: 10 images of 32 in 4 columns, 138 x 104 RGB");
}

/* The writer's jobs for test_writer: each appends its number to a log that only jobs touch. */
typedef struct {
    int ran[64], n;      /* the numbers of the jobs that ran, in the order they ran */
    int freed;           /* arguments freed */
    int fail_at;         /* the job that fails (-1: none) */
    size_t max_queued;   /* the most bytes queued as a job ran */
    Writer *w;
} JobLog;
typedef struct { JobLog *log; int i; } TestJob;
static int test_job_run(void *p, char *err, size_t errlen) {
    TestJob *j = p;
    if (j->i % 7 == 0) usleep(2000); /* (some jobs slow, so that the queue fills) */
    if (j->log->w->background) {
        pthread_mutex_lock(&j->log->w->mu);
        if (j->log->w->queued_bytes > j->log->max_queued) j->log->max_queued = j->log->w->queued_bytes;
        pthread_mutex_unlock(&j->log->w->mu);
    }
    j->log->ran[j->log->n++] = j->i;
    if (j->i == j->log->fail_at) { snprintf(err, errlen, "job %d: disk on fire", j->i); return -1; }
    return 0;
}
static void test_job_free(void *p) {
    TestJob *j = p;
    /* (a refused job is freed by the submitting thread, perhaps while the writer frees one it dropped) */
    __atomic_add_fetch(&j->log->freed, 1, __ATOMIC_SEQ_CST);
    free(j);
}

static void test_writer(void) {
    for (int background = 0; background <= 1; background++) {
        const char *mode = background ? "on its thread" : "without a thread";
        char what[160], err[256];
        /* 40 jobs of 100 bytes with room for 250: all run, in order, never more than 250 queued */
        Writer w;
        JobLog log = {.fail_at = -1, .w = &w};
        check(writer_open(&w, background, 250, err, sizeof err) == 0, "the writer starts");
        int submitted = 0;
        for (int i = 0; i < 40; i++) {
            TestJob *j = malloc(sizeof *j);
            j->log = &log;
            j->i = i;
            submitted += writer_submit(&w, test_job_run, j, test_job_free, 100, err, sizeof err) == 0;
        }
        const int drained = writer_drain(&w, err, sizeof err) == 0;
        int in_order = log.n == 40;
        for (int i = 0; i < log.n; i++) in_order &= log.ran[i] == i;
        snprintf(what, sizeof what, "writer %s: 40 jobs run in the order given, each freed (%d ran, %d freed)", mode, log.n,
                 log.freed);
        check(submitted == 40 && drained && in_order && log.freed == 40, what);
        if (background) {
            snprintf(what, sizeof what, "writer on its thread: at most 250 bytes wait (the most seen: %zu)", log.max_queued);
            check(log.max_queued <= 250 && log.max_queued >= 100, what);
        }
        writer_close(&w);

        /* job 3 of 10 fails: its error comes back, the jobs after it do not run, all are freed */
        JobLog flog = {.fail_at = 3, .w = &w};
        writer_open(&w, background, 1 << 20, err, sizeof err);
        int first_refused = -1;
        char got[256] = "";
        for (int i = 0; i < 10; i++) {
            TestJob *j = malloc(sizeof *j);
            j->log = &flog;
            j->i = i;
            if (writer_submit(&w, test_job_run, j, test_job_free, 100, got, sizeof got) != 0 && first_refused < 0)
                first_refused = i;
        }
        char derr[256] = "";
        const int drain_rc = writer_drain(&w, derr, sizeof derr);
        writer_close(&w);
        const int stopped = flog.n == 4 && flog.ran[3] == 3;
        snprintf(what, sizeof what, "writer %s: a failed job's error comes back (\"%s\"), the jobs after it are dropped "
                 "(%d ran) and freed (%d)", mode, derr, flog.n, flog.freed);
        check(drain_rc == -1 && !strcmp(derr, "job 3: disk on fire") && stopped && flog.freed == 10, what);
        if (!background) check(first_refused == 3 && !strcmp(got, "job 3: disk on fire"), "writer without a thread: the failing submit itself returns the error");
        else check(first_refused == -1 || !strcmp(got, "job 3: disk on fire"), "writer on its thread: a later submit returns the same error");
    }
}

static void test_loader_mirror(void) {
    enum { N = 12, C = 2, S = 5, B = 4, EPOCHS = 3 }; /* 3 batches an epoch; an odd side keeps a middle column */
    Dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.n = N; ds.channels = C; ds.size = S;
    ds.pixels = malloc((size_t)N * C * S * S);
    for (size_t k = 0; k < (size_t)N * C * S * S; k++) ds.pixels[k] = (unsigned char)((k * 37 + k / 7) % 251); /* no image is symmetric */
    char err[256];
    const uint64_t seed = 9;
    /* one rank, mirroring: the reference sequence */
    float ref[EPOCHS * 3][B * C * S * S];
    Loader l;
    check(loader_start(&l, &ds, B, seed, 1, 0, 1, 0, 0, err, sizeof err) == 0, "the loader starts");
    int whole = 1, as_said = 1, flips = 0, seen[N] = {0};
    for (int k = 0; k < EPOCHS * 3; k++) {
        long e, b;
        const float *x = loader_next(&l, &e, &b, NULL);
        memcpy(ref[k], x, sizeof ref[k]);
        for (int i = 0; i < B; i++) {
            int m = 0;
            const int id = identify(&ds, x + (size_t)i * C * S * S, &m);
            if (id < 0) { whole = 0; continue; }
            if (e == 0) seen[id]++;
            flips += m;
            as_said &= m == loader_mirrored(seed, e, (size_t)b * B + i);
        }
    }
    loader_stop(&l);
    int once = 1;
    for (int i = 0; i < N; i++) once &= seen[i] == 1;
    printf("  mirroring: %d of %d images flipped over %d epochs\n", flips, EPOCHS * 3 * B, EPOCHS);
    check(whole, "every loaded image is a data set image or its mirror image");
    check(once, "an epoch holds every image once");
    check(as_said, "an image is mirrored exactly when loader_mirrored says, by (seed, epoch, place)");
    check(flips > 0 && flips < EPOCHS * 3 * B, "some images are mirrored and some are not");
    /* resumed at epoch 1, batch 1: the same batches from there */
    check(loader_start(&l, &ds, B, seed, 1, 0, 1, 1, 1, err, sizeof err) == 0, "the loader starts at epoch 1, batch 1");
    int same = 1;
    for (int k = 4; k < EPOCHS * 3; k++) same &= !memcmp(loader_next(&l, NULL, NULL, NULL), ref[k], sizeof ref[k]);
    loader_stop(&l);
    check(same, "resumed mid-run, the loader gives the same images, mirrored the same way");
    /* two ranks of 2: rank r's half of global batch k is the one-rank batch's half r */
    Loader r0, r1;
    check(loader_start(&r0, &ds, B / 2, seed, 1, 0, 2, 0, 0, err, sizeof err) == 0 &&
          loader_start(&r1, &ds, B / 2, seed, 1, 1, 2, 0, 0, err, sizeof err) == 0, "two ranks' loaders start");
    const size_t half = (size_t)B / 2 * C * S * S;
    same = 1;
    for (int k = 0; k < EPOCHS * 3; k++) {
        same &= !memcmp(loader_next(&r0, NULL, NULL, NULL), ref[k], half * sizeof(float));
        same &= !memcmp(loader_next(&r1, NULL, NULL, NULL), ref[k] + half, half * sizeof(float));
    }
    loader_stop(&r0);
    loader_stop(&r1);
    check(same, "split over 2 ranks, the global batches are the same images, mirrored the same way");
    /* mirroring off: the same order, no image flipped */
    check(loader_start(&l, &ds, B, seed, 0, 0, 1, 0, 0, err, sizeof err) == 0, "the loader starts without mirroring");
    int unflipped = 1, same_order = 1;
    for (int k = 0; k < EPOCHS * 3; k++) {
        const float *x = loader_next(&l, NULL, NULL, NULL);
        for (int i = 0; i < B; i++) {
            int m = 1, mr = 0;
            const int id = identify(&ds, x + (size_t)i * C * S * S, &m);
            unflipped &= id >= 0 && m == 0;
            same_order &= id == identify(&ds, ref[k] + (size_t)i * C * S * S, &mr);
        }
    }
    loader_stop(&l);
    check(unflipped && same_order, "without mirroring the loader gives the same images in the same order, none flipped");
    free(ds.pixels);
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "/tmp/dcgan-test-data";
    char dir[4096], p[4300], cache[4300];
    snprintf(dir, sizeof dir, "%s/images", root);
    snprintf(cache, sizeof cache, "%s/cache", root);
    char cmd[8700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, cache);
    if (system(cmd) != 0) return 1;
    snprintf(p, sizeof p, "%s/nested/deeper", dir);
    mkdir_p(p);

    /* ---- valid files ---- */
    unsigned char rgb[50 * 40 * 3], rgba[30 * 30 * 4], gray[20 * 20];
    for (int i = 0; i < 50 * 40 * 3; i++) rgb[i] = (unsigned char)(i * 7);
    for (int i = 0; i < 30 * 30; i++) { rgba[4 * i] = 255; rgba[4 * i + 1] = 0; rgba[4 * i + 2] = 0; rgba[4 * i + 3] = 0; }
    for (int i = 0; i < 20 * 20; i++) gray[i] = 128;
    snprintf(p, sizeof p, "%s/a_rgb.png", dir); stbi_write_png(p, 50, 40, 3, rgb, 150);
    snprintf(p, sizeof p, "%s/b_transparent.png", dir); stbi_write_png(p, 30, 30, 4, rgba, 120);
    snprintf(p, sizeof p, "%s/c_gray.png", dir); stbi_write_png(p, 20, 20, 1, gray, 20);
    snprintf(p, sizeof p, "%s/nested/d.jpg", dir); stbi_write_jpg(p, 50, 40, 3, rgb, 90);
    snprintf(p, sizeof p, "%s/nested/e.BMP", dir); stbi_write_bmp(p, 50, 40, 3, rgb);
    snprintf(p, sizeof p, "%s/nested/deeper/f.tga", dir); stbi_write_tga(p, 30, 30, 4, rgba);
    {   /* 16-bit gray PNG, all 0xFFFF: white */
        unsigned char rows[8 * 8 * 2];
        memset(rows, 0xff, sizeof rows);
        snprintf(p, sizeof p, "%s/g_16bit.png", dir);
        png_raw(p, 8, 8, 0, 16, NULL, 0, rows, 16, 8);
    }
    {   /* palette PNG: index 1 = pure blue */
        unsigned char plte[6] = {255, 0, 0, 0, 0, 255}, rows[9 * 9];
        memset(rows, 1, sizeof rows);
        snprintf(p, sizeof p, "%s/h_palette.png", dir);
        png_raw(p, 9, 9, 3, 8, plte, 2, rows, 9, 9);
    }
    {   /* PGM and PPM */
        snprintf(p, sizeof p, "%s/i.pgm", dir);
        FILE *f = fopen(p, "wb"); fprintf(f, "P5\n4 4\n255\n"); for (int i = 0; i < 16; i++) fputc(200, f); fclose(f);
        snprintf(p, sizeof p, "%s/j.ppm", dir);
        f = fopen(p, "wb"); fprintf(f, "P6\n3 5\n255\n"); for (int i = 0; i < 45; i++) fputc(60, f); fclose(f);
    }
    {   /* a 2x2 GIF (clear code before every pixel keeps the LZW codes 3 bits wide) */
        const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 2, 0, 2, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
                                     0x2c, 0, 0, 0, 0, 2, 0, 2, 0, 0, 2, 4, 0x04, 0x31, 0x0c, 0x5a, 0, 0x3b};
        snprintf(p, sizeof p, "%s/k.gif", dir);
        put_bytes(p, gif, sizeof gif);
    }
    const int n_valid = 11;

    /* ---- bad files ---- */
    {
        size_t len;
        snprintf(p, sizeof p, "%s/a_rgb.png", dir);
        unsigned char *full = read_file(p, &len, 1 << 20);
        snprintf(p, sizeof p, "%s/bad_truncated.png", dir); put_bytes(p, full, len / 2);
        free(full);
        snprintf(p, sizeof p, "%s/bad_empty.png", dir); put_bytes(p, "", 0);
        snprintf(p, sizeof p, "%s/bad_text.jpg", dir); put_bytes(p, "this is not an image\n", 21);
        unsigned char huge[8 * 8];
        memset(huge, 1, sizeof huge);
        snprintf(p, sizeof p, "%s/bad_huge.png", dir);
        png_raw(p, 100000, 100000, 0, 8, NULL, 0, huge, 8, 8); /* IHDR claims 100000 x 100000 */
        /* a BMP with compression 4 (embedded JPEG), which stb_image does not support */
        snprintf(p, sizeof p, "%s/nested/e.BMP", dir);
        unsigned char *bmp = read_file(p, &len, 1 << 20);
        bmp[30] = 4;
        snprintf(p, sizeof p, "%s/nested/bad_variant.bmp", dir); put_bytes(p, bmp, len);
        free(bmp);
        snprintf(p, sizeof p, "%s/bad_loop.png", dir);
        if (symlink("bad_loop.png", p) != 0) perror("symlink");
        snprintf(p, sizeof p, "%s/nested/back", dir);
        if (symlink("..", p) != 0) perror("symlink");
        snprintf(p, sizeof p, "%s/README.txt", dir); put_bytes(p, "ignored: not an image name\n", 27);
    }
    const int n_bad = 7;

    DatasetOptions o = {16, 3, 1, {255, 255, 255}, cache, 0};
    Dataset ds;
    char err[1024];
    int rc = dataset_load(&ds, dir, &o, err, sizeof err);
    check(rc == 0, "folder of odd files loads");
    if (rc != 0) { printf("  error: %s\n", err); return fx_summary("test_data"); }
    printf("  loaded %d, skipped %d\n", ds.n, ds.skipped);
    for (int i = 0; i < ds.skipped && i < DATASET_MAX_REPORT; i++) printf("  skipped: %s\n", ds.bad[i]);
    check(ds.n == n_valid, "every valid image is decoded");
    check(ds.skipped == n_bad, "every bad file is skipped and counted");
    check(ds.channels == 3 && ds.size == 16, "images are converted to 3 x 16 x 16");
    /* sorted order: a_rgb, b_transparent, c_gray, g_16bit, h_palette, i.pgm, j.ppm, k.gif, nested/... */
    const int S = 16, per = 3 * S * S;
    const unsigned char *b = ds.pixels + 1 * per; /* fully transparent red over white -> white */
    check(b[0] == 255 && b[S * S] == 255 && b[2 * S * S] == 255, "transparency is composited over the background");
    const unsigned char *g16 = ds.pixels + 3 * per;
    check(g16[0] == 255 && g16[S * S + 5] == 255, "16-bit PNG is converted to 8 bits");
    const unsigned char *pal = ds.pixels + 4 * per;
    check(pal[0] == 0 && pal[S * S] == 0 && pal[2 * S * S] == 255, "palette PNG is expanded to RGB");
    const unsigned char *cg = ds.pixels + 2 * per;
    check(cg[0] == 128 && cg[S * S] == 128 && cg[2 * S * S] == 128, "grayscale is replicated to RGB");

    /* the second load comes from the decoded cache, identical */
    Dataset again;
    rc = dataset_load(&again, dir, &o, err, sizeof err);
    check(rc == 0 && again.from_cache && again.n == ds.n && again.skipped == ds.skipped &&
              !memcmp(again.pixels, ds.pixels, (size_t)ds.n * per),
          "a second load reads the decoded cache and gives the same images");
    dataset_free(&again);
    /* a changed source invalidates the cache */
    snprintf(p, sizeof p, "%s/c_gray.png", dir);
    for (int i = 0; i < 20 * 20; i++) gray[i] = 10;
    sleep(0);
    stbi_write_png(p, 20, 20, 1, gray, 20);
    struct stat st0;
    stat(p, &st0);
    rc = dataset_load(&again, dir, &o, err, sizeof err);
    check(rc == 0 && again.pixels[2 * per] == 10, "a changed file invalidates the cache");
    dataset_free(&again);
    /* gray output: luminance */
    DatasetOptions og = o;
    og.channels = 1;
    rc = dataset_load(&again, dir, &og, err, sizeof err);
    check(rc == 0 && again.channels == 1 && again.pixels[4 * S * S] == 29, "RGB to gray uses ITU-R 601 luminance (blue -> 29)");
    dataset_free(&again);
    dataset_free(&ds);

    /* a folder with nothing usable: one clear error */
    snprintf(p, sizeof p, "%s/empty-dir", root);
    mkdir_p(p);
    rc = dataset_load(&ds, p, &o, err, sizeof err);
    check(rc != 0 && strstr(err, "no image"), "an empty folder is refused with a clear message");
    printf("  message: %s\n", err);
    snprintf(p, sizeof p, "%s/does-not-exist", root);
    rc = dataset_load(&ds, p, &o, err, sizeof err);
    check(rc != 0 && strstr(err, "cannot read"), "a missing path is refused with a clear message");

    /* a 16-bit PPM converted to RGB (stb_image's own conversion of these overreads; the
     * loader expands channels itself), and a 16-bit PGM whose data is missing (fuzz_image's find) */
    {
        unsigned char ppm[64], px[16 * 3], *q = ppm;
        const int hl = snprintf((char *)ppm, sizeof ppm, "P6\n2 2\n65535\n");
        q += hl;
        for (int i = 0; i < 4; i++) { *q++ = 0xC8; *q++ = 0x00; *q++ = 0x14; *q++ = 0x00; *q++ = 0x3C; *q++ = 0x00; }
        DatasetOptions o16 = {4, 3, 1, {255, 255, 255}, cache, 0};
        char why[256];
        int rc16 = image_decode_sample(ppm, (size_t)(q - ppm), &o16, px, why, sizeof why);
        check(rc16 == 0 && px[0] == 200 && px[16] == 20 && px[32] == 60, "a 16-bit PPM decodes to 8-bit RGB");
        const unsigned char short16[] = "P5\n448\n25\n448";
        rc16 = image_decode_sample(short16, sizeof short16, &o16, px, why, sizeof why);
        check(rc16 != 0 && strstr(why, "truncated"), "a 16-bit PGM with its data missing is refused as truncated");
        rc16 = image_decode_sample(ppm, (size_t)(q - ppm) - 1, &o16, px, why, sizeof why);
        check(rc16 != 0 && strstr(why, "truncated"), "a PPM one byte short is refused as truncated");
        const unsigned char pgm15[] = {'P', '5', '\n', '2', ' ', '2', '\n', '1', '5', '\n', 15, 15, 15, 15};
        DatasetOptions o1 = {2, 1, 0, {255, 255, 255}, cache, 0};
        rc16 = image_decode_sample(pgm15, sizeof pgm15, &o1, px, why, sizeof why);
        check(rc16 == 0 && px[0] == 255 && px[3] == 255, "a PGM with maxval 15 is rescaled to 0..255");
    }

    /* IDX: a good one, a truncated one and a foreign one */
    unsigned char idx[16 + 2 * 28 * 28] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28};
    for (int i = 16; i < (int)sizeof idx; i++) idx[i] = (unsigned char)i;
    snprintf(p, sizeof p, "%s/good-idx3-ubyte", root); put_bytes(p, idx, sizeof idx);
    int dims[3];
    unsigned char *data;
    check(idx_read(p, 3, dims, &data, err, sizeof err) == 0 && dims[0] == 2 && dims[1] == 28 && data[0] == 16, "an IDX file reads");
    free(data);
    snprintf(p, sizeof p, "%s/short-idx3-ubyte", root); put_bytes(p, idx, sizeof idx - 100);
    check(idx_read(p, 3, dims, &data, err, sizeof err) != 0 && strstr(err, "truncated"), "a truncated IDX file is refused");
    printf("  message: %s\n", err);
    snprintf(p, sizeof p, "%s/foreign-idx3-ubyte", root); put_bytes(p, "PK\3\4 a zip file", 16);
    check(idx_read(p, 3, dims, &data, err, sizeof err) != 0 && strstr(err, "magic"), "a foreign file is refused as IDX");
    printf("  message: %s\n", err);
    test_loader_mirror();
    test_png_encode();
    test_writer();
    return fx_summary("test_data");
}
