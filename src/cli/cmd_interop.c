/* cmd_interop.c: `dcgan export` (a network's weights as safetensors with PyTorch's names, or the
 * generator as ONNX) and `dcgan import` (a checkpoint from PyTorch weights saved as safetensors). */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../io/fileio.h"
#include "../io/onnx_export.h"
#include "../io/safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes net (G when generator) of a loaded run as safetensors. */
static void export_safetensors(LoadedRun *run, int generator, const char *out) {
    const Net *N = generator ? &run->g.G : &run->g.D;
    const ModelConfig *mc = &run->meta.mc;
    float *params = xmalloc((N->nparams ? N->nparams : 1) * sizeof(float));
    float *bufs = xmalloc((N->nbuf ? N->nbuf : 1) * sizeof(float));
    run->be->download(run->be, params, N->params, N->nparams);
    run->be->download(run->be, bufs, N->buffers, N->nbuf);
    StTensor t[3 * NET_MAX_TENSORS];
    int64_t tracked = run->meta.step * (generator ? run->meta.tc.g_steps : 2 + run->meta.tc.g_steps); /* training-mode forwards */
    int n = 0;
    for (int b = 0; b < 2; b++) {
        const int count = b ? N->nbuffers : N->ntensors;
        for (int i = 0; i < count; i++) {
            const TensorSpec *s = b ? &N->buffer[i] : &N->tensor[i];
            StTensor *x = &t[n++];
            memset(x, 0, sizeof *x);
            net_export_name(N, mc, generator, b, i, x->name, sizeof x->name);
            x->dtype = ST_F32;
            x->ndim = s->ndim;
            for (int d = 0; d < s->ndim; d++) x->dims[d] = s->dims[d];
            x->data = (b ? bufs : params) + s->offset;
            x->nbytes = s->numel * sizeof(float);
        }
    }
    for (int li = 0; li < N->nlayers; li++) { /* PyTorch's BatchNorm also keeps a step counter */
        const int bi = net_bn_index(N, generator, mc, li);
        if (bi < 0) continue;
        StTensor *x = &t[n++];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "main.%d.num_batches_tracked", bi);
        x->dtype = ST_I64;
        x->ndim = 0;
        x->data = &tracked;
        x->nbytes = 8;
    }
    char err[1024];
    if (safetensors_write(out, t, n, err, sizeof err) != 0) die("%s", err);
    free(params);
    free(bufs);
}

int cmd_export(int argc, char **argv) {
    const char *ckpt = NULL, *format = "safetensors", *out = NULL, *net = "G";
    const OptSpec spec[] = {
        {"checkpoint", OPT_STR, &ckpt, "a checkpoint file, or a run folder (its newest checkpoint)", 0, -1},
        {"format", OPT_STR, &format, "safetensors (PyTorch state_dict names) or onnx (the generator)", 0, -1},
        {"net", OPT_STR, &net, "G or D (safetensors only)", 0, -1},
        {"out", OPT_STR, &out, "the file to write", 0, -1},
    };
    opts_parse("export", "Writes trained weights for other tools: safetensors for PyTorch, ONNX for inference runtimes.",
               spec, (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    if (!ckpt) die("export: --checkpoint PATH is required (a checkpoint file or a run folder)");
    if (!out) die("export: --out FILE is required");
    const int generator = !strcmp(net, "G") || !strcmp(net, "g");
    if (!generator && strcmp(net, "D") && strcmp(net, "d")) die("export: --net '%s' is unknown; use G or D", net);
    const int onnx = !strcmp(format, "onnx");
    if (!onnx && strcmp(format, "safetensors")) die("export: --format '%s' is unknown; use safetensors or onnx", format);
    if (onnx && !generator) die("export: ONNX export is for the generator; drop --net D");
    LoadedRun run;
    run_load(&run, ckpt, "cpu", NULL, 1, 1);
    if (onnx && run.meta.mc.nclasses)
        die("export: ONNX export of a conditional model (%d classes) is not supported; export its weights with "
            "--format safetensors", run.meta.mc.nclasses);
    if (onnx) {
        char err[1024];
        if (onnx_export_generator(out, &run.g.G, run.be, &run.meta.mc, err, sizeof err) != 0) die("%s", err);
    } else {
        export_safetensors(&run, generator, out);
    }
    printf("export: %s of %s (step %ld) -> %s (%s)\n", generator ? "generator" : "discriminator", run.path, run.meta.step,
           out, onnx ? "ONNX, input z [N, nz], output images [N, C, S, S]" : "safetensors");
    run_close(&run);
    return 0;
}

/* ---- import ---- */

typedef struct {
    uint8_t *buf;
    StTensor t[ST_MAX_TENSORS];
    int n;
    const char *path;
} StFile;

static void st_open(StFile *f, const char *path) {
    size_t len;
    char err[512];
    f->path = path;
    f->buf = read_file(path, &len, 1ull << 34);
    if (!f->buf) die("import: cannot read %s: %s", path, strerror(errno));
    if (safetensors_parse(f->buf, len, f->t, &f->n, err, sizeof err) != 0) die("import: %s: %s", path, err);
}

static const StTensor *need(const StFile *f, const char *name) {
    const StTensor *x = safetensors_find(f->t, f->n, name);
    if (!x) die("import: %s has no tensor %s; is it a state_dict of this architecture?", f->path, name);
    return x;
}

/* Reads the model's shape from a generator state_dict: nz, gf, size and channels. */
static void infer_generator(const StFile *f, ModelConfig *mc) {
    if (mc->arch == ARCH_DCGAN) {
        const StTensor *w0 = need(f, "main.0.weight");
        if (w0->ndim != 4) die("import: main.0.weight of %s is not a transposed-convolution weight; is it a generator's state_dict?", f->path);
        int n = 1;
        char name[64];
        for (;; n++) {
            snprintf(name, sizeof name, "main.%d.weight", 3 * n);
            if (!safetensors_find(f->t, f->n, name)) break;
        }
        snprintf(name, sizeof name, "main.%d.weight", 3 * (n - 1));
        const StTensor *wl = need(f, name);
        if (wl->ndim != 4) die("import: %s of %s is not a transposed-convolution weight; is it a generator's state_dict?", name, f->path);
        mc->nz = (int)w0->dims[0];
        mc->size = 4 << (n - 1);
        mc->gf = mc->size >= 8 ? (int)(w0->dims[1] / (mc->size / 8)) : 0;
        mc->channels = (int)wl->dims[1];
    } else {
        const StTensor *w0 = need(f, "L0.weight"), *w4 = need(f, "L4.weight");
        if (w0->ndim != 2 || w4->ndim != 4) die("import: %s does not hold a seed-family generator", f->path);
        mc->nz = (int)w0->dims[1];
        mc->gf = (int)w4->dims[0];
        mc->channels = (int)w4->dims[1];
        const long per = mc->gf > 0 ? (long)(w0->dims[0] / (8 * mc->gf)) : 0; /* (S/16)^2 */
        int s = 1;
        while ((long)s * s < per) s++;
        mc->size = 16 * s;
    }
}

/* Copies every tensor of net from the file, checking names and shapes. */
static void load_net(const StFile *f, Net *N, Backend *be, const ModelConfig *mc, int generator) {
    for (int b = 0; b < 2; b++) {
        const int count = b ? N->nbuffers : N->ntensors;
        for (int i = 0; i < count; i++) {
            const TensorSpec *s = b ? &N->buffer[i] : &N->tensor[i];
            char name[128];
            net_export_name(N, mc, generator, b, i, name, sizeof name);
            const StTensor *x = need(f, name);
            int same = x->dtype == ST_F32 && x->ndim == s->ndim;
            for (int d = 0; same && d < s->ndim; d++) same = x->dims[d] == s->dims[d];
            if (x->dtype != ST_F32) die("import: %s in %s is %s; save the state_dict in float32", name, f->path, x->dtype_name);
            if (!same) {
                char want[64] = "", got[64] = "";
                for (int d = 0; d < s->ndim; d++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "x" : "", s->dims[d]);
                for (int d = 0; d < x->ndim; d++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)x->dims[d]);
                die("import: %s in %s is %s, but this model needs %s; check --df/--arch", name, f->path, got, want);
            }
            float *tmp = xmalloc(x->nbytes ? x->nbytes : 1);
            memcpy(tmp, x->data, x->nbytes); /* the file's data may be unaligned */
            be->upload(be, (b ? N->buffers : N->params) + s->offset, tmp, s->numel);
            free(tmp);
        }
    }
}

int cmd_import(int argc, char **argv) {
    const char *from = NULL, *from_d = NULL, *out = NULL, *arch = "dcgan";
    int df = 0, batch = 64, g_steps = 2;
    long seed = 1;
    const OptSpec spec[] = {
        {"from", OPT_STR, &from, "the generator's state_dict as safetensors (see README)", 0, -1},
        {"d", OPT_STR, &from_d, "the discriminator's state_dict as safetensors (default: a fresh D)", 0, -1},
        {"arch", OPT_STR, &arch, "dcgan (pytorch/examples names) or seed (dcgan export's names)", 0, -1},
        {"df", OPT_INT, &df, "discriminator base width when there is no --d (default: G's width)", 1, 1024},
        {"batch", OPT_INT, &batch, "batch size recorded for training further", 1, 1 << 20},
        {"g-steps", OPT_INT, &g_steps, "G updates per D update when training further", 1, 100},
        {"seed", OPT_LONG, &seed, "seed for a fresh D and for training further", 0, 9.2e18},
        {"out", OPT_STR, &out, "run folder for the checkpoint (then: dcgan sample / train --resume it)", 0, -1},
    };
    opts_parse("import", "Makes a checkpoint from PyTorch DCGAN weights saved as safetensors.", spec,
               (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    if (!from) die("import: --from G.safetensors is required");
    if (!out) die("import: --out DIR is required");
    ModelConfig mc = {ARCH_DCGAN, 0, 0, 100, 64, 64, 0, 0, 0, 0};
    if (arch_parse(arch, &mc.arch) != 0) die("import: --arch '%s' is unknown; use dcgan or seed", arch);
    StFile fg, fd;
    memset(&fd, 0, sizeof fd);
    st_open(&fg, from);
    infer_generator(&fg, &mc);
    mc.df = df ? df : mc.gf;
    if (from_d) {
        st_open(&fd, from_d);
        const StTensor *w = need(&fd, mc.arch == ARCH_DCGAN ? "main.0.weight" : "L0.weight");
        if (w->ndim != 4) die("import: %s does not start with a convolution; is it the discriminator?", from_d);
        mc.df = (int)w->dims[0];
    }
    char err[1024];
    if (model_config_check(&mc, batch, err, sizeof err) != 0) die("import: the weights give an impossible model (%s)", err);
    TrainConfig tc;
    train_config_default(&tc);
    tc.g_steps = g_steps;
    Backend *be = backend_create("cpu", 1);
    Gan g;
    gan_init(&g, be, &mc, &tc, batch, (uint64_t)seed);
    load_net(&fg, &g.G, be, &mc, 1);
    if (from_d) load_net(&fd, &g.D, be, &mc, 0);
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    meta.mc = mc; meta.tc = tc; meta.batch = batch; meta.seed = (uint64_t)seed; meta.nranks = 1; meta.crop = 1;
    memset(meta.background, 255, 3);
    if (mkdir_p(out) != 0) die("import: cannot create %s: %s", out, strerror(errno));
    char path[4300];
    snprintf(path, sizeof path, "%s/ckpt_%08d.dcgan", out, 0);
    if (checkpoint_save(path, &g, &meta, err, sizeof err) != 0) die("%s", err);
    printf("import: %s %dx%dx%d, nz %d, gf %d, df %d%s -> %s\n", arch_name(mc.arch), mc.size, mc.size, mc.channels,
           mc.nz, mc.gf, mc.df, from_d ? "" : " (fresh D)", path);
    free(fg.buf);
    free(fd.buf);
    gan_free(&g);
    be->destroy(be);
    return 0;
}
