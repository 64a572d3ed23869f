/* registry.c: picks a backend by the name the user gave with --device (and --precision).
 *
 * The CUDA backend is a plugin (libdcgan-cuda.so, built with the CUDA toolkit) loaded only when
 * --device cuda is asked for, so that the program runs, and starts fast, where the CUDA libraries
 * are absent. It is looked for in $DCGAN_CUDA_BACKEND, beside the program, in ../lib beside it
 * (an installed tree), then on the library path. */
#include "../ops/ops.h"
#include "../core/util.h"

#include <stdio.h>
#include <string.h>
#ifdef DCGAN_HAVE_CUDA
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#endif

#ifdef DCGAN_HAVE_CUDA
static Backend *load_cuda(const char *precision) {
    char exe[PATH_MAX] = "", cand[4][PATH_MAX + 64];
    int n = 0;
    const char *env = getenv("DCGAN_CUDA_BACKEND");
    if (env && *env) snprintf(cand[n++], sizeof cand[0], "%s", env);
    const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(cand[n++], sizeof cand[0], "%s/libdcgan-cuda.so", exe);
        snprintf(cand[n++], sizeof cand[0], "%s/../lib/libdcgan-cuda.so", exe);
    }
    snprintf(cand[n++], sizeof cand[0], "libdcgan-cuda.so");
    char why[512] = "not found";
    for (int i = 0; i < n; i++) {
        if (strchr(cand[i], '/') && access(cand[i], F_OK) != 0) continue;
        void *h = dlopen(cand[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) { /* the first failure is the one to report: later candidates are fallbacks */
            const char *e = dlerror();
            if (!strcmp(why, "not found")) snprintf(why, sizeof why, "%s", e ? e : "dlopen failed");
            continue;
        }
        Backend *(*create)(const char *) = (Backend * (*)(const char *)) dlsym(h, "backend_cuda_create");
        if (!create) { snprintf(why, sizeof why, "%s has no backend_cuda_create", cand[i]); continue; }
        return create(precision); /* the plugin stays loaded for the rest of the process */
    }
    die("--device cuda: cannot load the CUDA backend libdcgan-cuda.so (%s); use --device cpu", why);
}
#endif

Backend *backend_create_precision(const char *name, const char *precision, int threads) {
    /* "cpu" (oneDNN when built with it), "cpu:bf16"; "cpu-blas" (im2col + sgemm) and "cpu-blas:bf16"
     * (the CUDA backend's bf16 arithmetic emulated on it) are for tests */
    const int blas = !strncmp(name, "cpu-blas", 8) && (name[8] == 0 || name[8] == ':');
    if (!strcmp(name, "cpu") || !strncmp(name, "cpu:", 4) || blas) {
        const char *sep = strchr(name, ':'), *p = sep ? sep + 1 : precision;
        if (p && strcmp(p, "fp32") && strcmp(p, "bf16"))
            die("--precision %s is not for the CPU; use fp32 (default) or bf16 there%s", p,
                !strcmp(p, "tf32") ? " (tf32 is for --device cuda)" : "");
        return backend_cpu_create(threads, !blas, p && !strcmp(p, "bf16"));
    }
    if (!strncmp(name, "cuda", 4) && (name[4] == 0 || name[4] == ':')) {
        const char *p = name[4] == ':' ? name + 5 : precision;
        if (p && strcmp(p, "tf32") && strcmp(p, "fp32") && strcmp(p, "bf16"))
            die("--precision %s is unknown; use tf32 (default), fp32 or bf16", p);
#ifdef DCGAN_HAVE_CUDA
        return load_cuda(p ? p : "tf32");
#else
        die("--device cuda: this build has no CUDA backend (it was built without the CUDA toolkit); use --device cpu");
#endif
    }
    die("unknown device '%s'; use --device cpu or --device cuda", name);
}

Backend *backend_create(const char *name, int threads) { return backend_create_precision(name, NULL, threads); }
