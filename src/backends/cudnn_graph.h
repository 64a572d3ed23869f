/* cudnn_graph.h: one convolution as an operation graph of cuDNN's graph (backend) API, and what an
 * engine's notes say about it. Shared by the CUDA backend (src/backends/cuda.cu), which offers the
 * graph's engines next to the legacy API's algorithms, and by the engine survey
 * (bench/gpu/cudnn_engines.c). Plain C, header only; nothing here stops the program: a refusal
 * comes back as NULL. */
#ifndef DCGAN_CUDNN_GRAPH_H
#define DCGAN_CUDNN_GRAPH_H

#include <cudnn.h>
#include <stdint.h>

/* the graph's operation: x (n,c,h,w) -> y (n,k,p,q) with w (k,c,r,s), or one of its two gradients */
enum { CG_FWD = 0, CG_BWD_DATA = 1, CG_BWD_FILTER = 2 };
/* the operands' unique ids, which a variant pack names: x (or dx), w (or dw), y (or dy) */
enum { CG_UID_X = 1, CG_UID_W = 2, CG_UID_Y = 3 };
/* an engine's notes as bits (cg_engine_notes) */
enum { CG_TENSOR_CORE = 1, CG_DOWN_CONVERT = 2, CG_NONDETERMINISTIC = 4, CG_WINOGRAD = 8, CG_FFT = 16,
       CG_RUNTIME_COMPILED = 32 };

/* One 2-d cross-correlation: the dims (n, c, h, w order) and strides of its three operands, its
 * square stride and padding, and the operands' type (the arithmetic is fp32) */
typedef struct {
    int64_t xdim[4], xstr[4], wdim[4], wstr[4], ydim[4], ystr[4];
    int64_t stride, pad;
    cudnnDataType_t type;
} CgConv;

#define CG_TRY(x)                                                                                                      \
    do {                                                                                                               \
        if ((x) != CUDNN_STATUS_SUCCESS) goto fail;                                                                    \
    } while (0)

static void cg_free(cudnnBackendDescriptor_t *d) {
    if (*d) cudnnBackendDestroyDescriptor(*d);
    *d = NULL;
}

/* A finalized tensor descriptor, 16-byte aligned data, or NULL */
static cudnnBackendDescriptor_t cg_tensor(int64_t uid, cudnnDataType_t t, const int64_t dim[4], const int64_t str[4]) {
    const int64_t align = 16;
    cudnnBackendDescriptor_t d = NULL;
    CG_TRY(cudnnBackendCreateDescriptor(CUDNN_BACKEND_TENSOR_DESCRIPTOR, &d));
    CG_TRY(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &t));
    CG_TRY(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim));
    CG_TRY(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str));
    CG_TRY(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
    CG_TRY(cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
    CG_TRY(cudnnBackendFinalize(d));
    return d;
fail:
    cg_free(&d);
    return NULL;
}

/* The finalized operation graph of operation `op` (CG_*) of cv on handle h, with alpha 1 and beta
 * 0 (an output is overwritten), or NULL where cuDNN refuses it */
static cudnnBackendDescriptor_t cg_graph(cudnnHandle_t h, const CgConv *cv, int op) {
    /* per operation: its descriptor type and its attributes for x (or dx), w (or dw), y (or dy),
     * the convolution, alpha and beta */
    static const struct { cudnnBackendDescriptorType_t type; cudnnBackendAttributeName_t a[6]; } ops[3] = {
        {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
         {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
          CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
          CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA}},
        {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
         {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA}},
        {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
         {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA}},
    };
    const int64_t dims = 2, one[2] = {1, 1}, st[2] = {cv->stride, cv->stride}, pad[2] = {cv->pad, cv->pad};
    const cudnnDataType_t f = CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    const float alpha = 1.0f, beta = 0.0f;
    cudnnBackendDescriptor_t x = cg_tensor(CG_UID_X, cv->type, cv->xdim, cv->xstr),
                             w = cg_tensor(CG_UID_W, cv->type, cv->wdim, cv->wstr),
                             y = cg_tensor(CG_UID_Y, cv->type, cv->ydim, cv->ystr), cd = NULL, o = NULL, g = NULL;
    if (!x || !w || !y || op < 0 || op > 2) goto fail;
    CG_TRY(cudnnBackendCreateDescriptor(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cd));
    CG_TRY(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims));
    CG_TRY(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f));
    CG_TRY(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    CG_TRY(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, one));
    CG_TRY(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, st));
    CG_TRY(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad));
    CG_TRY(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad));
    CG_TRY(cudnnBackendFinalize(cd));
    CG_TRY(cudnnBackendCreateDescriptor(ops[op].type, &o));
    CG_TRY(cudnnBackendSetAttribute(o, ops[op].a[0], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    CG_TRY(cudnnBackendSetAttribute(o, ops[op].a[1], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w));
    CG_TRY(cudnnBackendSetAttribute(o, ops[op].a[2], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    CG_TRY(cudnnBackendSetAttribute(o, ops[op].a[3], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
    CG_TRY(cudnnBackendSetAttribute(o, ops[op].a[4], CUDNN_TYPE_FLOAT, 1, &alpha));
    CG_TRY(cudnnBackendSetAttribute(o, ops[op].a[5], CUDNN_TYPE_FLOAT, 1, &beta));
    CG_TRY(cudnnBackendFinalize(o));
    CG_TRY(cudnnBackendCreateDescriptor(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &g));
    CG_TRY(cudnnBackendSetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &o));
    CG_TRY(cudnnBackendSetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
    CG_TRY(cudnnBackendFinalize(g));
    goto done;
fail:
    cg_free(&g);
done:
    cg_free(&o);
    cg_free(&cd);
    cg_free(&x);
    cg_free(&w);
    cg_free(&y);
    return g;
}

/* The notes of a finalized engine descriptor, as CG_* bits */
static int cg_engine_notes(cudnnBackendDescriptor_t eng) {
    cudnnBackendNumericalNote_t nn[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    cudnnBackendBehaviorNote_t bn[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    int64_t cn = 0, cb = 0;
    int bits = 0;
    if (cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &cn, nn) != CUDNN_STATUS_SUCCESS)
        cn = 0;
    for (int64_t i = 0; i < cn; i++) {
        if (nn[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE) bits |= CG_TENSOR_CORE;
        if (nn[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) bits |= CG_DOWN_CONVERT;
        if (nn[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) bits |= CG_NONDETERMINISTIC;
        if (nn[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD) bits |= CG_WINOGRAD;
        if (nn[i] == CUDNN_NUMERICAL_NOTE_FFT) bits |= CG_FFT;
    }
    if (cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                 CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &cb, bn) != CUDNN_STATUS_SUCCESS)
        cb = 0;
    for (int64_t i = 0; i < cb; i++)
        if (bn[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) bits |= CG_RUNTIME_COMPILED;
    return bits;
}

#undef CG_TRY
#endif
