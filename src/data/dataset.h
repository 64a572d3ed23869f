/* dataset.h: training images in memory, from MNIST-style IDX files or a folder of images.
 *
 * Every image is decoded once, converted to the model's channels (transparency composited over a
 * background colour), center-cropped to a square (or squashed), resized to size x size with a
 * Mitchell/Catmull-Rom filter, and kept as uint8 [n][C][S][S]. The decoded set is cached in one
 * compact file keyed by the sources (paths, sizes, mtimes) and the preprocessing options, so later
 * runs do not decode again. Bad files in a folder are skipped and reported, never fatal. */
#ifndef DCGAN_DATASET_H
#define DCGAN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define DATASET_MAX_REPORT 5

typedef struct {
    int size, channels;      /* target size and channels */
    int crop;                /* 1: center-crop to a square; 0: squash */
    uint8_t background[3];   /* colour under transparent pixels */
    const char *cache_dir;   /* NULL: $DCGAN_CACHE_DIR, else $XDG_CACHE_HOME/dcgan, else ~/.cache/dcgan; "" disables */
    int verbose;
} DatasetOptions;

typedef struct {
    int n, channels, size;
    uint8_t *pixels;          /* (n, C, S, S) */
    int32_t *labels;          /* (n) or NULL: IDX labels, or a folder's first-level subfolder
                                 (-1 for an image directly in the folder) */
    int nclasses;
    char *class_names;        /* newline-separated (see classes.h), NULL without labels */
    int unlabelled;           /* a folder's images outside any class subfolder */
    int skipped;              /* bad files skipped */
    char bad[DATASET_MAX_REPORT][320]; /* the first few bad files, with the reason */
    int from_cache;
    char source[64];          /* "idx" or "folder" */
} Dataset;

/* The default data: Fashion-MNIST from Debian's dataset-fashion-mnist package. */
#define DATASET_DEFAULT_PATH "/usr/share/datasets/fashion-mnist"

/* 1 when path is IDX data: an IDX file, or a folder holding train-images-idx3-ubyte[.gz]. */
int dataset_is_idx(const char *path);

/* The cache folder ($DCGAN_CACHE_DIR, else $XDG_CACHE_HOME/dcgan, else ~/.cache/dcgan), created if
 * needed. 0, or -1 when there is none. */
int dataset_cache_dir(char *out, size_t n);

/* Loads path (a folder of images, a folder with IDX files, or an IDX images file). On a user
 * error returns -1 with one line in err. Labels: an IDX labels file beside the images, or for a
 * folder the first-level subfolder each image lies in (the classes are those subfolders' names, in
 * sorted order). */
int dataset_load(Dataset *ds, const char *path, const DatasetOptions *opt, char *err, size_t errlen);
void dataset_free(Dataset *ds);

/* Converts images [first, first+count) to float NCHW in [-1, 1]. */
void dataset_to_float(const Dataset *ds, const uint32_t *index, int count, float *out);

/* Decodes one image file held in memory and converts it to (C, S, S) uint8 as the loader does.
 * Returns 0, or -1 with the reason in why. Exposed for the tests and fuzzers. */
int image_decode_sample(const uint8_t *buf, size_t len, const DatasetOptions *o, uint8_t *out, char *why,
                        size_t whylen);

/* Reads an IDX file (optionally gzip-compressed). Exposed for the tests and fuzzers.
 * Returns -1 with a message in err when the file is missing, truncated or not the expected type. */
int idx_read(const char *path, int want_dims, int *dims, uint8_t **data, char *err, size_t errlen);

#endif
