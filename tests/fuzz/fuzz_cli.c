/* fuzz_cli.c: libFuzzer target for the command-line parser: the input, split at newlines, is
 * argv for an option table with every option type. */
#include "../../src/cli/opts.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    if (n > 4096) return 0;
    char *text = malloc(n + 1);
    memcpy(text, data, n);
    text[n] = 0;
    char *argv[256];
    int argc = 0;
    argv[argc++] = "dcgan";
    argv[argc++] = "train";
    for (char *p = text; argc < 256;) {
        argv[argc++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    int i1 = 0, flag = 0;
    long l1 = 0;
    float f1 = 0;
    const char *s1 = NULL;
    const OptSpec spec[] = {
        {"size", OPT_INT, &i1, "", 0, 4096}, {"steps", OPT_LONG, &l1, "", 0, 1e12}, {"lr", OPT_FLOAT, &f1, "", 1e-9, 1},
        {"data", OPT_STR, &s1, "", 0, -1},   {"quiet", OPT_FLAG, &flag, "", 0, -1}, {"n", OPT_INT, &i1, "", 1, 100},
    };
    char err[512];
    opts_try_parse("train", spec, 6, argc, argv, 2, err, sizeof err);
    free(text);
    return 0;
}
