/* evaluate.h: dcgan eval's pipeline: a reference set of real images and the LeNet's features of it
 * (cached), then the metrics of a set of generated (or any) images against it. */
#ifndef DCGAN_EVALUATE_H
#define DCGAN_EVALUATE_H

#include "lenet.h"

typedef struct {
    double fid, kid, kid_std, is, is_std, precision, recall;
    double nn_median;   /* median feature distance of a sample to its nearest reference image */
    double memorized;   /* share of samples nearer a reference image than the closest reference pair */
    int n_fake, n_real;
    /* with labels (a conditional model's samples): the share of the images of class k that the
     * LeNet classifies as class k, over count[k] images; nclasses 0 without labels */
    int nclasses;
    double class_acc[LENET_CLASSES];
    int class_n[LENET_CLASSES];
    double min_class_acc; /* the lowest class_acc */
} EvalResult;

typedef struct {
    Backend *be;
    Lenet lenet;
    int n_ref;
    float *ref_feat;         /* (n_ref, F) */
    double *ref_mu, *ref_cov;
    char reference[1100];    /* what the reference is, for the report */
    int ref_from_cache;
} Evaluator;

/* Resolves the reference (fashion-mnist, mnist, or a path to IDX files or an image folder) and the
 * LeNet weights (lenet_path, or the shipped ones found near the program), and computes or loads the
 * reference features of up to n images. 0, or -1 with one line in err. */
int evaluator_init(Evaluator *e, Backend *be, const char *reference, int n, const char *lenet_path, char *err,
                   size_t errlen);
void evaluator_free(Evaluator *e);

/* The metrics of n LeNet-ready images (n, 1, 32, 32) in [-1, 1]; seed drives KID's subsets. labels
 * (n, classes in [0, LENET_CLASSES)) or NULL: the classes the images were made for, which adds the
 * per-class accuracy. */
void evaluator_run(Evaluator *e, const float *images, const int32_t *labels, int n, uint64_t seed, EvalResult *r);
/* The LeNet's class of each of n probability rows (n, LENET_CLASSES). */
int lenet_argmax(const float *probs_row);

/* Features (n, F) and class probabilities (n, K) of LeNet-ready images (either output may be NULL). */
void evaluator_features(Evaluator *e, const float *images, int n, float *features, float *probs);

/* Converts n images (n, C, S, S) in [-1, 1] to LeNet's input (n, 1, 32, 32): gray by ITU-R 601
 * luminance, resized with stb_image_resize when S is not 32. */
void to_lenet_input(const float *in, int n, int C, int S, float *out);

/* Where the shipped LeNet weights for a reference are: $DCGAN_LENET, else models/lenet-NAME.safetensors
 * beside the program or in ../share/dcgan. 0 and the path, or -1. */
int find_lenet(const char *name, char *out, size_t n);

#endif
