/* cmd_eval.c: `dcgan lenet` trains the classifier whose features define the metrics, and
 * `dcgan eval` scores a checkpoint's samples (or a folder of images) against real images. */
#include "commands.h"
#include "opts.h"
#include "../core/util.h"
#include "../data/classes.h"
#include "../data/dataset.h"
#include "../eval/evaluate.h"
#include "../train/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The test-set file beside a training set: a folder's t10k-images, or the t10k twin of a train file. */
static int test_set_path(const char *data, char *out, size_t n) {
    const char *names[2] = {"t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, n, "%s/%s", data, names[i]);
        if (access(out, R_OK) == 0) return 0;
    }
    const char *p = strstr(data, "train-images");
    if (p) {
        snprintf(out, n, "%.*st10k-images%s", (int)(p - data), data, p + strlen("train-images"));
        if (access(out, R_OK) == 0) return 0;
    }
    return -1;
}

/* The LeNet's accuracy on a labelled set; per class into class_acc (LENET_CLASSES) when not NULL. */
static double accuracy(Lenet *l, const Dataset *ds, double *class_acc) {
    const size_t per = (size_t)LENET_SIZE * LENET_SIZE;
    float *img = xmalloc((size_t)l->B * per * sizeof(float)), *probs = xmalloc((size_t)l->B * LENET_CLASSES * sizeof(float));
    uint32_t *idx = xmalloc((size_t)l->B * sizeof(uint32_t));
    long right = 0, cright[LENET_CLASSES] = {0}, cn[LENET_CLASSES] = {0};
    for (int i = 0; i < ds->n; i += l->B) {
        const int m = ds->n - i < l->B ? ds->n - i : l->B;
        for (int k = 0; k < m; k++) idx[k] = (uint32_t)(i + k);
        dataset_to_float(ds, idx, m, img);
        lenet_run(l, img, m, NULL, probs);
        for (int k = 0; k < m; k++) {
            const int32_t y = ds->labels[i + k];
            const int ok = lenet_argmax(probs + (size_t)k * LENET_CLASSES) == y;
            right += ok;
            if (y >= 0 && y < LENET_CLASSES) { cn[y]++; cright[y] += ok; }
        }
    }
    if (class_acc)
        for (int c = 0; c < LENET_CLASSES; c++) class_acc[c] = cn[c] ? (double)cright[c] / cn[c] : 0;
    free(img); free(probs); free(idx);
    return (double)right / ds->n;
}

int cmd_lenet(int argc, char **argv) {
    const char *data = DATASET_DEFAULT_PATH, *out = NULL, *test = NULL;
    int epochs = 10, batch = 128, threads = 0;
    long seed = 1;
    float lr = 1e-3f, decay = 0.75f;
    const OptSpec spec[] = {
        {"data", OPT_STR, &data, "labelled IDX training data (default " DATASET_DEFAULT_PATH ")", 0, -1},
        {"test", OPT_STR, &test, "labelled IDX test images (default: the t10k files beside --data)", 0, -1},
        {"epochs", OPT_INT, &epochs, "training epochs", 1, 1000},
        {"batch", OPT_INT, &batch, "batch size", 2, 4096},
        {"lr", OPT_FLOAT, &lr, "Adam learning rate of the first epoch", 1e-6, 1},
        {"lr-decay", OPT_FLOAT, &decay, "the learning rate is multiplied by this after each epoch", 0.01, 1},
        {"seed", OPT_LONG, &seed, "seed for the weights and the data order", 0, 9.2e18},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
        {"out", OPT_STR, &out, "the weights, as safetensors (models/lenet-fashion-mnist.safetensors ships)", 0, -1},
    };
    opts_parse("lenet", "Trains the LeNet classifier whose features dcgan eval's metrics use.", spec,
               (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    if (!out) die("lenet: --out FILE.safetensors is required");
    char tpath[4300], err[1024];
    cli_check_outputs("lenet", &out, 1); /* before minutes of training */
    if (!test) {
        if (test_set_path(data, tpath, sizeof tpath) != 0) die("lenet: no t10k test images beside %s; give --test FILE", data);
        test = tpath;
    }
    DatasetOptions o = {LENET_SIZE, 1, 1, {255, 255, 255}, NULL, 0};
    Dataset tr, te;
    if (dataset_load(&tr, data, &o, err, sizeof err) != 0) die("lenet: %s", err);
    if (dataset_load(&te, test, &o, err, sizeof err) != 0) die("lenet: %s", err);
    if (!tr.labels || !te.labels) die("lenet: %s has no labels (the matching labels-idx1 file)", !tr.labels ? data : test);
    if (tr.nclasses > LENET_CLASSES || te.nclasses > LENET_CLASSES || tr.unlabelled || te.unlabelled)
        die("lenet: the classifier has %d classes, and %s has %d%s; give data with labels 0 to %d", LENET_CLASSES,
            te.nclasses > LENET_CLASSES ? test : data, tr.nclasses > te.nclasses ? tr.nclasses : te.nclasses,
            tr.unlabelled || te.unlabelled ? " (and images outside any class folder)" : "", LENET_CLASSES - 1);
    Backend *be = backend_create("cpu", threads);
    Lenet l;
    lenet_init(&l, be, batch, 1, (uint64_t)seed);
    const long bpe = tr.n / batch;
    float *img = xmalloc((size_t)batch * LENET_SIZE * LENET_SIZE * sizeof(float));
    int32_t *lab = xmalloc((size_t)batch * sizeof(int32_t));
    uint32_t *perm = xmalloc((size_t)tr.n * sizeof(uint32_t));
    printf("lenet: %d training and %d test images from %s, %d epochs of %ld batches of %d\n", tr.n, te.n, data, epochs,
           bpe, batch);
    double acc = 0;
    for (int e = 0; e < epochs; e++) {
        Rng r;
        rng_seed(&r, (uint64_t)seed, 2000 + (uint64_t)e);
        for (int i = 0; i < tr.n; i++) perm[i] = (uint32_t)i;
        for (int i = tr.n - 1; i > 0; i--) {
            const uint32_t j = rng_below(&r, (uint32_t)i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        double loss = 0;
        const double t0 = now_seconds();
        for (long b = 0; b < bpe; b++) {
            dataset_to_float(&tr, perm + b * batch, batch, img);
            for (int k = 0; k < batch; k++) lab[k] = tr.labels[perm[b * batch + k]];
            loss += lenet_train_step(&l, img, lab, lr * pow(decay, e));
        }
        acc = accuracy(&l, &te, NULL);
        printf("epoch %d: loss %.4f, test accuracy %.2f%%, %.1fs\n", e + 1, loss / bpe, 100 * acc, now_seconds() - t0);
        fflush(stdout);
    }
    if (lenet_save(&l, out, err, sizeof err) != 0) die("%s", err);
    printf("lenet: test accuracy %.2f%%; weights in %s\n", 100 * acc, out);
    free(img); free(lab); free(perm);
    lenet_free(&l);
    dataset_free(&tr);
    dataset_free(&te);
    be->destroy(be);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt = NULL, *images = NULL, *reference = "fashion-mnist", *lenet = NULL, *test = NULL, *bn = "running",
               *weights = "ema";
    int n = 10000, json = 0, threads = 0;
    long seed = 1;
    float temperature = 1;
    const OptSpec spec[] = {
        {"checkpoint", OPT_STR, &ckpt, "score this checkpoint's samples (a file, or a run folder)", 0, -1},
        {"images", OPT_STR, &images, "or score the images of this folder (or IDX file)", 0, -1},
        {"reference", OPT_STR, &reference, "real images: fashion-mnist, mnist, or a folder / IDX path", 0, -1},
        {"n", OPT_INT, &n, "images to score and reference images to compare with", 2, 1000000},
        {"seed", OPT_LONG, &seed, "seed of the samples' z (as dcgan sample --seed) and of KID's subsets", 0, 9.2e18},
        {"temperature", OPT_FLOAT, &temperature, "scale the samples' z by this (as dcgan sample --temperature)", 0.01, 10},
        {"bn", OPT_STR, &bn, "the samples' batch norm statistics: running or batch (as dcgan sample --bn)", 0, -1},
        {"weights", OPT_STR, &weights, "the samples' generator: ema or live (as dcgan sample --weights)", 0, -1},
        {"lenet", OPT_STR, &lenet, "LeNet weights (default: the shipped ones for the reference)", 0, -1},
        {"accuracy", OPT_STR, &test, "instead: print the LeNet's accuracy on these labelled IDX images", 0, -1},
        {"json", OPT_FLAG, &json, "print one JSON object instead of a table", 0, -1},
        {"threads", OPT_INT, &threads, "CPU threads (0: all cores)", 0, 1024},
    };
    opts_parse("eval", "Scores generated images against real ones on LeNet features: FID-LeNet, KID-LeNet, IS-LeNet, "
               "precision, recall and a memorization check.", spec, (int)(sizeof spec / sizeof spec[0]), argc, argv, 2);
    if (!test && !ckpt == !images) die("eval: give --checkpoint PATH or --images DIR (one of them)");
    if (strcmp(bn, "running") && strcmp(bn, "batch")) die("eval: --bn '%s' is unknown; use running or batch", bn);
    char err[1024];
    Backend *be = backend_create("cpu", threads);
    Evaluator ev;
    if (test) { /* the classifier's own check: accuracy on a labelled test set */
        char lpath[4300];
        if (!lenet && find_lenet(strcmp(reference, "mnist") ? "fashion-mnist" : "mnist", lpath, sizeof lpath) != 0)
            die("eval: no LeNet weights found; give --lenet FILE");
        Lenet l;
        lenet_init(&l, be, 500, 0, 1);
        if (lenet_load(&l, lenet ? lenet : lpath, err, sizeof err) != 0) die("eval: %s", err);
        DatasetOptions o = {LENET_SIZE, 1, 1, {255, 255, 255}, NULL, 0};
        Dataset te;
        if (dataset_load(&te, test, &o, err, sizeof err) != 0) die("eval: %s", err);
        if (!te.labels) die("eval: %s has no labels (the matching labels-idx1 file)", test);
        if (te.nclasses > LENET_CLASSES || te.unlabelled)
            die("eval: %s has labels outside the LeNet's %d classes; give data with labels 0 to %d", test, LENET_CLASSES,
                LENET_CLASSES - 1);
        double cacc[LENET_CLASSES];
        const double acc = accuracy(&l, &te, cacc);
        if (json) {
            printf("{\"accuracy\": %.6f, \"n\": %d, \"class_accuracy\": [", acc, te.n);
            for (int c = 0; c < LENET_CLASSES; c++) printf("%s%.6f", c ? ", " : "", cacc[c]);
            printf("]}\n");
        } else {
            printf("eval: LeNet accuracy %.2f%% on %d images of %s\n", 100 * acc, te.n, test);
            for (int c = 0; c < LENET_CLASSES && te.class_names; c++) {
                char name[CLASS_NAME_MAX];
                classes_name(te.class_names, c, name, sizeof name);
                printf("  class %d %-14s %6.2f%%\n", c, name, 100 * cacc[c]);
            }
        }
        dataset_free(&te);
        lenet_free(&l);
        be->destroy(be);
        return 0;
    }
    if (evaluator_init(&ev, be, reference, n, lenet, err, sizeof err) != 0) die("eval: %s", err);
    const size_t per = (size_t)LENET_SIZE * LENET_SIZE;
    float *img = NULL;
    int32_t *labels = NULL; /* a conditional model's classes, when the LeNet's are the same */
    char classes[CLASS_NAMES_MAX] = "";
    int m = n;
    char what[4400];
    if (ckpt) {
        LoadedRun run;
        run_load(&run, ckpt, "cpu", NULL, threads, run_weights_option("eval", weights));
        const ModelConfig mc = run.meta.mc;
        const size_t ipr = (size_t)mc.channels * mc.size * mc.size;
        float *z = xmalloc((size_t)m * mc.nz * sizeof(float)), *raw = xmalloc((size_t)m * ipr * sizeof(float));
        sample_z(z, m, mc.nz, run.meta.tc.zdist, (uint64_t)seed);
        for (size_t i = 0; i < (size_t)m * mc.nz; i++) z[i] *= temperature;
        int32_t *gen_labels = NULL;
        if (mc.nclasses) { /* image i is made for class i mod K */
            gen_labels = xmalloc((size_t)m * sizeof(int32_t));
            grid_labels(gen_labels, m, 1, mc.nclasses);
            if (mc.nclasses == LENET_CLASSES) {
                labels = gen_labels;
                snprintf(classes, sizeof classes, "%s", run.meta.classes);
            } else {
                fprintf(stderr, "eval: note: no per-class accuracy: the model has %d classes, the LeNet %d\n",
                        mc.nclasses, LENET_CLASSES);
            }
        }
        generate_images(run.be, &mc, &run.g.G, z, gen_labels, m, !strcmp(bn, "batch"), raw);
        if (gen_labels != labels) free(gen_labels);
        img = xmalloc((size_t)m * per * sizeof(float));
        to_lenet_input(raw, m, mc.channels, mc.size, img);
        if (temperature != 1) snprintf(what, sizeof what, "%s (step %ld), seed %ld, temperature %g", run.path, run.meta.step, seed, temperature);
        else snprintf(what, sizeof what, "%s (step %ld), seed %ld", run.path, run.meta.step, seed);
        free(z);
        free(raw);
        run_close(&run);
    } else {
        DatasetOptions o = {LENET_SIZE, 1, 1, {255, 255, 255}, NULL, 0};
        Dataset ds;
        if (dataset_load(&ds, images, &o, err, sizeof err) != 0) die("eval: %s", err);
        m = ds.n < n ? ds.n : n;
        if (m < 2) die("eval: %s has %d image; scoring needs at least 2", images, ds.n);
        uint32_t *idx = xmalloc((size_t)m * sizeof(uint32_t));
        for (int i = 0; i < m; i++) idx[i] = (uint32_t)((long)i * ds.n / m);
        img = xmalloc((size_t)m * per * sizeof(float));
        dataset_to_float(&ds, idx, m, img);
        snprintf(what, sizeof what, "%s", images);
        free(idx);
        dataset_free(&ds);
    }
    EvalResult r;
    evaluator_run(&ev, img, labels, m, (uint64_t)seed, &r);
    if (json) {
        printf("{\"fid\": %.6g, \"kid\": %.6g, \"kid_std\": %.6g, \"is\": %.6g, \"is_std\": %.6g, \"precision\": %.6g, "
               "\"recall\": %.6g, \"nn_median\": %.6g, \"memorized\": %.6g, \"n\": %d, \"n_reference\": %d, "
               "\"features\": \"lenet\"",
               r.fid, r.kid, r.kid_std, r.is, r.is_std, r.precision, r.recall, r.nn_median, r.memorized, r.n_fake, r.n_real);
        if (r.nclasses) {
            printf(", \"class_accuracy\": [");
            for (int c = 0; c < r.nclasses; c++) printf("%s%.6f", c ? ", " : "", r.class_acc[c]);
            printf("], \"min_class_accuracy\": %.6f", r.min_class_acc);
        }
        printf("}\n");
    } else {
        printf("eval: %d images of %s against %d of %s%s\n", r.n_fake, what, r.n_real, ev.reference,
               ev.ref_from_cache ? " (cached features)" : "");
        printf("  FID-LeNet        %10.4f\n", r.fid);
        printf("  KID-LeNet        %10.5f  +- %.5f (10 subsets of %d)\n", r.kid, r.kid_std, r.n_fake < 1000 ? r.n_fake : 1000);
        printf("  IS-LeNet         %10.4f  +- %.4f (10 splits; at most %d)\n", r.is, r.is_std, LENET_CLASSES);
        printf("  precision        %10.4f  (k = 5)\n", r.precision);
        printf("  recall           %10.4f\n", r.recall);
        printf("  nearest real     %10.4f  median feature distance; %.2f%% nearer than the closest real pair\n",
               r.nn_median, 100 * r.memorized);
        if (r.nclasses) {
            printf("  class accuracy   %10.4f  lowest share of a class's samples the LeNet gives that class:\n", r.min_class_acc);
            for (int c = 0; c < r.nclasses; c++) {
                char name[CLASS_NAME_MAX];
                classes_name(classes, c, name, sizeof name);
                printf("    class %d %-14s %6.2f%% of %d\n", c, name, 100 * r.class_acc[c], r.class_n[c]);
            }
        }
    }
    free(img);
    free(labels);
    evaluator_free(&ev);
    be->destroy(be);
    return 0;
}
