/* image_io.h: PNG output: sample grids, single images, and line plots of the training curves.
 * All files are written atomically. */
#ifndef DCGAN_IMAGE_IO_H
#define DCGAN_IMAGE_IO_H

#include <stddef.h>

/* Writes n images, host float NCHW (n, C, S, S) in [-1, 1], as a grid of ncols columns with a
 * 2-pixel border. 0, or -1 with one line in err. */
int png_write_grid(const char *path, const float *images, int n, int C, int S, int ncols, char *err, size_t errlen);

/* The grid of png_write_grid as 8-bit pixels (gray, or RGB when C is 3), W x H; the caller frees it. */
unsigned char *grid_to_u8(const float *images, int n, int C, int S, int ncols, int *w, int *h, int *comp);

/* The width, height and channels (1 or 3) of that grid, without making it. */
void grid_shape(int n, int C, int S, int ncols, int *w, int *h, int *comp);

/* Whether png_encode takes an image of this shape: at most 1 GiB of pixel bytes (PNG_MAX_BYTES). */
#define PNG_MAX_BYTES (1u << 30)
int png_fits(int w, int h, int comp);

/* 8-bit pixels (h rows of w * comp bytes; comp 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) as the bytes
 * of a PNG file (*len of them; the caller frees; NULL for a bad shape). Each row takes the PNG filter
 * whose output has the least sum of magnitudes, the rows are deflated by zlib at level 6. */
unsigned char *png_encode(const unsigned char *pix, int w, int h, int comp, int *len);

/* Writes 8-bit pixels as a PNG file (png_encode, then atomically). With png_out, also hands back
 * the file's bytes (*len_out of them; the caller frees) when it was written. 0, or -1 with err. */
int png_write_u8(const char *path, const unsigned char *pix, int w, int h, int comp, unsigned char **png_out,
                 int *len_out, char *err, size_t errlen);

/* Writes one image (C, S, S) in [-1, 1]. */
int png_write_image(const char *path, const float *image, int C, int S, char *err, size_t errlen);

/* A line plot of y over x with axes, ticks, a title and a smoothed curve: png_plot returns the PNG
 * file's bytes (*len of them, the caller frees; NULL when out of memory), png_write_plot writes it. */
unsigned char *png_plot(const char *title, const char *xlabel, const double *x, const double *y, int n, int *len);
int png_write_plot(const char *path, const char *title, const char *xlabel, const double *x, const double *y, int n,
                   char *err, size_t errlen);

#endif
