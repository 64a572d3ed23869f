/* registry.c: picks a backend by the name the user gave with --device (and --precision). */
#include "../ops/ops.h"
#include "../core/util.h"

#include <stdio.h>
#include <string.h>

Backend *backend_create_precision(const char *name, const char *precision, int threads) {
    if (!strcmp(name, "cpu") || !strcmp(name, "cpu-blas")) {
        if (precision && strcmp(precision, "fp32"))
            die("--precision %s is for --device cuda; the CPU computes in fp32 (drop --precision)", precision);
        return backend_cpu_create(threads, !strcmp(name, "cpu"));
    }
    if (!strncmp(name, "cuda", 4) && (name[4] == 0 || name[4] == ':')) {
        const char *p = name[4] == ':' ? name + 5 : precision;
        if (p && strcmp(p, "tf32") && strcmp(p, "fp32") && strcmp(p, "bf16"))
            die("--precision %s is unknown; use tf32 (default), fp32 or bf16", p);
#ifdef DCGAN_HAVE_CUDA
        return backend_cuda_create(p ? p : "tf32");
#else
        die("--device cuda: this build has no CUDA backend (it was built without the CUDA toolkit); use --device cpu");
#endif
    }
    die("unknown device '%s'; use --device cpu or --device cuda", name);
}

Backend *backend_create(const char *name, int threads) { return backend_create_precision(name, NULL, threads); }
