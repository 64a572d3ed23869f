/* fixture.h: reads the PyTorch fixture files (see tests/fixtures/make_fixtures.py) and compares
 * tensors by ||ours - ref|| / ||ref||, printing which tensor, where and by how much on a mismatch. */
#ifndef DCGAN_TEST_FIXTURE_H
#define DCGAN_TEST_FIXTURE_H

#include "../src/models/model.h"
#include "../src/train/gan.h"

#include <stddef.h>

typedef struct {
    char *name;
    int ndim;
    int dims[8];
    size_t numel;
    float *data;
} FxTensor;

typedef struct {
    int count;
    FxTensor *t;
} Fixture;

void fx_load(Fixture *fx, const char *path);      /* exits non-zero with a message on any problem */
void fx_free(Fixture *fx);
const FxTensor *fx_get(const Fixture *fx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ||ours - ref|| / ||ref|| (the plain norm of the difference where ref is all zeros) */
double fx_rel_err(const float *ours, const float *ref, size_t n);
/* Compares n floats; prints one PASS/FAIL line. Returns 1 on failure. */
int fx_check(const char *what, const float *ours, const float *ref, size_t n, double tol);

/* Compares n 32-bit words (floats, or bit masks kept in float tensors) for the same bits; prints one
 * PASS/FAIL line that on a mismatch says how many differ and the first, as bits and as a float.
 * Returns 1 on failure. */
int fx_same_bits(const char *what, const void *ours, const void *ref, size_t n);

/* Loads a network's parameters from a training fixture's "init.<prefix><tensor name>" tensors
 * (exits on a size mismatch). */
void fx_load_net(Backend *be, Net *n, const Fixture *fx, const char *prefix);
/* Loads DIR/train_NAME.bin and reads its model, schedule, batch and step count (its "config": arch,
 * size, channels, nz, gf, df, batch, g_steps, steps, then for conditional models the classes and the
 * class-loss weight; "real_label", D's target on real images, where it is not 1; and "lr_decay",
 * FROM and TO of the learning rate's linear decay, where it falls). */
void fx_load_train(Fixture *fx, const char *dir, const char *name, ModelConfig *mc, TrainConfig *tc, int *B, int *steps);
/* Uploads a conditional training fixture's labels of step s into g (nothing for other models). */
void fx_set_labels(Gan *g, const Fixture *fx, int s);

/* Host layout helpers: NCHW (N,C,HW) <-> CNHW (C,N,HW). */
void fx_nchw_to_cnhw(float *out, const float *in, int N, int C, int HW);
void fx_cnhw_to_nchw(float *out, const float *in, int N, int C, int HW);

/* Test-summary counter: every test program ends with fx_summary(), which prints
 * "N passed, M failed" and returns the exit status. */
extern int fx_passed, fx_failed;
int fx_summary(const char *prog);
/* One PASS/FAIL line for a condition, counted in the summary. */
void fx_expect(int ok, const char *what);

#endif
