/* npy.h: reading and writing float32 arrays in NumPy's .npy format (version 1.0, C order). */
#ifndef DCGAN_NPY_H
#define DCGAN_NPY_H

#include <stddef.h>

int npy_write_f32(const char *path, const float *data, const int *shape, int ndim, char *err, size_t errlen);
/* Allocates *data; at most 4 dimensions. */
int npy_read_f32(const char *path, float **data, int *shape, int *ndim, char *err, size_t errlen);

#endif
