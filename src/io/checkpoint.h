/* checkpoint.h: the complete training state in one versioned file.
 *
 * Layout (little-endian): magic "DCGANCKP", u32 format version, u32 header length, the header
 * (configuration, counters, RNG state, tensor counts; from format 2 the class count and names;
 * from format 4 whether D takes the label planes, from format 5 whether it has the projection term,
 * from format 6 whether the data is mirrored and D's target on real images, from format 7 the
 * learning rate's decay),
 * then G's parameters, Adam m, Adam v and
 * batch-norm buffers, the same for D, from format 3 (with TrainConfig.ema) the averaged parameters
 * of G and their batch-norm buffers, and a CRC-32 of everything before it. Files are written
 * atomically; a load checks magic, version, sizes and checksum before using anything. */
#ifndef DCGAN_CHECKPOINT_H
#define DCGAN_CHECKPOINT_H

#include "../data/classes.h"
#include "../train/gan.h"

#define CHECKPOINT_VERSION 7u /* 2: class-conditional models; 3: the moving average of G; 4: whether
                                 D takes the label planes (ModelConfig.d_labels; before 4 a
                                 conditional D always did); 5: the projection term
                                 (ModelConfig.proj); 6: random mirroring of the data (--flip)
                                 and D's target on real images (TrainConfig.real_label); 7:
                                 the learning rate's decay (TrainConfig.lr_decay_from, _to).
                                 Formats 1 to 6 are still read. */

typedef struct {
    ModelConfig mc;
    TrainConfig tc;
    int batch;
    uint64_t seed;
    long step;            /* completed iterations */
    long epoch, batch_in_epoch; /* where the data loader resumes */
    long adam_t_d, adam_t_g;
    uint64_t reserved[4]; /* written as 0: z comes from (seed, step) and needs no saved state */
    int nranks;
    int data_n;           /* images in the training set (a check at resume) */
    double elapsed;       /* training seconds so far */
    char data_path[1024]; /* the training data, so that --resume needs no --data */
    int crop;             /* preprocessing of the data */
    int flip;             /* the loader mirrors images at random (format 6; 0 before) */
    uint8_t background[3];
    char classes[CLASS_NAMES_MAX]; /* conditional models (mc.nclasses > 0): the class names, one per line */
} CheckpointMeta;

/* Writes the state of g (and meta) to path atomically, after gan_ema_refresh. 0, or -1 with one
 * line in err. The decay written is g's (meta->tc.ema is not used). */
int checkpoint_save(const char *path, Gan *g, const CheckpointMeta *meta, char *err, size_t errlen);
/* checkpoint_save in two halves, so that the second can run on another thread (io/writer.h) while
 * training goes on: checkpoint_encode downloads the state into *data (the whole file but its CRC;
 * *len bytes, the caller frees; -1 with one line in err when a value is not finite), and
 * checkpoint_write puts the CRC in and writes it to path atomically. */
int checkpoint_encode(Gan *g, const CheckpointMeta *meta, uint8_t **data, size_t *len, char *err, size_t errlen);
/* The bytes of g's tensors in a checkpoint (all of the file but its header and CRC). */
size_t checkpoint_tensor_bytes(const Gan *g);
int checkpoint_write(const char *path, uint8_t *data, size_t len, char *err, size_t errlen);

/* Reads only the metadata (validating the whole file). */
int checkpoint_read_meta(const char *path, CheckpointMeta *meta, char *err, size_t errlen);

/* Loads the tensors into an initialized Gan whose configuration matches the file. The moving
 * average is loaded when both have one; a Gan with one loading a file without starts it at the
 * loaded weights; one without ignores the file's. */
int checkpoint_load(const char *path, Gan *g, CheckpointMeta *meta, char *err, size_t errlen);

/* Resolves a checkpoint file or a run folder (its newest checkpoint) to a file path. */
int checkpoint_resolve(const char *path, char *out, size_t outlen, char *err, size_t errlen);

#endif
