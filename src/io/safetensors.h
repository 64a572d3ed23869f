/* safetensors.h: the safetensors file format (Hugging Face's; what PyTorch users save state_dicts
 * in): an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
 * byte range, then the raw little-endian data. Writing is atomic; parsing validates everything
 * (it is fuzzed: tests/fuzz/fuzz_safetensors.c). */
#ifndef DCGAN_SAFETENSORS_H
#define DCGAN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_TENSORS 256
#define ST_MAX_DIMS 8

typedef enum { ST_F32, ST_I64, ST_OTHER } StDtype;

typedef struct {
    char name[128];
    StDtype dtype;
    char dtype_name[16]; /* as written in the file: F32, I64, F16, ... */
    int ndim;
    int64_t dims[ST_MAX_DIMS];
    const void *data;    /* into the file buffer (parse) or the caller's memory (write) */
    size_t nbytes;
} StTensor;

/* Writes n tensors (F32 or I64, data in host order on a little-endian machine) to path. 0, or -1
 * with one line in err. */
int safetensors_write(const char *path, const StTensor *t, int n, char *err, size_t errlen);

/* Parses a whole file held in buf (len bytes): fills t (room for ST_MAX_TENSORS) and *n. Tensor
 * data points into buf. 0, or -1 with one line in err naming what is wrong. */
int safetensors_parse(const uint8_t *buf, size_t len, StTensor *t, int *n, char *err, size_t errlen);

/* The tensor called name, or NULL. */
const StTensor *safetensors_find(const StTensor *t, int n, const char *name);

#endif
