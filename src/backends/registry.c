/* registry.c: picks a backend by the name the user gave with --device. */
#include "../ops/ops.h"
#include "../core/util.h"

#include <string.h>

Backend *backend_create(const char *name, int threads) {
    if (!strcmp(name, "cpu")) return backend_cpu_create(threads, 1);
    if (!strcmp(name, "cpu-blas")) return backend_cpu_create(threads, 0);
    if (!strcmp(name, "cuda")) die("--device cuda: this build has no CUDA backend; use --device cpu");
    die("unknown device '%s'; use --device cpu", name);
}
