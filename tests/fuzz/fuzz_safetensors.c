/* fuzz_safetensors.c: libFuzzer target for the safetensors parser (dcgan import). Every tensor the
 * parser accepts must lie inside the buffer; reading all of it lets ASan check that. */
#include "../../src/io/safetensors.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    static StTensor t[ST_MAX_TENSORS];
    int count;
    char err[512];
    /* a private copy, so reads past the end are caught exactly */
    unsigned char *buf = malloc(n ? n : 1);
    memcpy(buf, data, n);
    if (safetensors_parse(buf, n, t, &count, err, sizeof err) == 0) {
        unsigned sum = 0;
        for (int i = 0; i < count; i++)
            for (size_t k = 0; k < t[i].nbytes; k++) sum += ((const unsigned char *)t[i].data)[k];
        if (sum == 0xFFFFFFFFu) abort(); /* keeps the reads */
        (void)safetensors_find(t, count, "main.0.weight");
    }
    free(buf);
    return 0;
}
