/* commands.h: the dcgan subcommands; each takes the whole argv (argv[1] is its name). */
#ifndef DCGAN_COMMANDS_H
#define DCGAN_COMMANDS_H

#include "../io/checkpoint.h"

#include <math.h>

int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_interp(int argc, char **argv);
int cmd_arith(int argc, char **argv);
int cmd_invert(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_lenet(int argc, char **argv);

/* The help of the --precision option of train, sample, invert and bench */
#define PRECISION_HELP "cuda: tf32 (default), fp32 or bf16; cpu: fp32 (default) or bf16 (needs AVX512_BF16)"

/* The backend of a command that trains or samples: backend_create_precision, and on a backend
 * that chooses by timing (the GPU's convolution algorithms) its choices kept in the cache folder
 * (Backend.cache_choices), unless DCGAN_CUDA_ALGOS names a file of them or DCGAN_CUDA_CACHE=0. */
Backend *cli_backend(const char *device, const char *precision, int threads);

/* For a command that works a while before it writes: each of its n output files (NULL: not asked
 * for) can be written (io/fileio.h check_output_file), else one line "CMD: cannot write ..." and exit. */
void cli_check_outputs(const char *cmd, const char *const *paths, int n);

/* A trained state loaded for the commands that read a checkpoint (sample, info, interp, arith). */
typedef struct {
    Backend *be;
    Gan g;
    CheckpointMeta meta;
    char path[4200]; /* the checkpoint file */
} LoadedRun;
/* Resolves ckpt (a file, or a run folder meaning its newest checkpoint) and loads it on a new
 * backend. With use_ema, a checkpoint holding a moving average of G (dcgan train --ema) gets it in
 * place of G's live weights (gan_generator_from_ema). Dies with one line on any problem. */
void run_load(LoadedRun *r, const char *ckpt, const char *device, const char *precision, int threads, int use_ema);
/* The --weights option of the commands that sample: 1 for "ema" (the default), 0 for "live". */
int run_weights_option(const char *cmd, const char *weights);
void run_close(LoadedRun *r);
/* The class a --class option names for the run's model (a name or a number): -1 when cls is NULL;
 * dies with one line when the class is unknown or the model is not conditional. */
int run_class(const LoadedRun *r, const char *cmd, const char *cls);
/* The labels of n images for the run's model: NULL for an unconditional model; all `cls` when
 * cls >= 0; else one class per row of cols images (class-by-row grid). Free with free(). */
int32_t *run_labels(const LoadedRun *r, int n, int cls, int cols);

#endif
