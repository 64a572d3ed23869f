/* onnx_export.c: ONNX ModelProto for the generator, encoded field by field (see onnx_export.h;
 * field numbers from onnx/onnx.proto). */
#include "onnx_export.h"
#include "fileio.h"
#include "protobuf.h"
#include "../core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_FLOAT = 1, T_INT64 = 7 };                      /* TensorProto.DataType */
enum { A_FLOAT = 1, A_INT = 2, A_INTS = 7 };             /* AttributeProto.AttributeType */

/* TensorProto: dims 1, data_type 2, name 8, raw_data 9 */
static void add_initializer(Pb *graph, const char *name, int dtype, const int64_t *dims, int ndim, const void *data,
                            size_t nbytes) {
    Pb t = {0};
    for (int d = 0; d < ndim; d++) pb_int(&t, 1, dims[d]);
    pb_int(&t, 2, dtype);
    pb_str(&t, 8, name);
    pb_bytes(&t, 9, data, nbytes);
    pb_msg(graph, 5, &t);
}

/* AttributeProto: name 1, f 2, i 3, ints 8, type 20 */
static void attr_ints(Pb *node, const char *name, const int64_t *v, int n) {
    Pb a = {0};
    pb_str(&a, 1, name);
    for (int i = 0; i < n; i++) pb_int(&a, 8, v[i]);
    pb_int(&a, 20, A_INTS);
    pb_msg(node, 5, &a);
}
static void attr_int(Pb *node, const char *name, int64_t v) {
    Pb a = {0};
    pb_str(&a, 1, name);
    pb_int(&a, 3, v);
    pb_int(&a, 20, A_INT);
    pb_msg(node, 5, &a);
}
static void attr_float(Pb *node, const char *name, float v) {
    Pb a = {0};
    pb_str(&a, 1, name);
    pb_float(&a, 2, v);
    pb_int(&a, 20, A_FLOAT);
    pb_msg(node, 5, &a);
}

/* NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. ins may hold NULLs (skipped). */
static Pb node_begin(const char *op, const char *name, const char *const *ins, int nin, const char *out) {
    Pb n = {0};
    for (int i = 0; i < nin; i++)
        if (ins[i]) pb_str(&n, 1, ins[i]);
    pb_str(&n, 2, out);
    pb_str(&n, 3, name);
    pb_str(&n, 4, op);
    return n;
}

/* ValueInfoProto for a float tensor whose first dimension is the symbolic batch "N" */
static void value_info(Pb *graph, int field, const char *name, const int64_t *dims, int ndim) {
    Pb shape = {0}, tensor = {0}, type = {0}, vi = {0};
    for (int d = 0; d < ndim; d++) {
        Pb dim = {0};
        if (d == 0) pb_str(&dim, 2, "N");
        else pb_int(&dim, 1, dims[d]);
        pb_msg(&shape, 1, &dim);
    }
    pb_int(&tensor, 1, T_FLOAT);
    pb_msg(&tensor, 2, &shape);
    pb_msg(&type, 1, &tensor);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(graph, field, &vi);
}

int onnx_export_generator(const char *path, const Net *G, Backend *be, const ModelConfig *mc, char *err, size_t errlen) {
    float *params = xmalloc((G->nparams ? G->nparams : 1) * sizeof(float));
    float *bufs = xmalloc((G->nbuf ? G->nbuf : 1) * sizeof(float));
    be->download(be, params, G->params, G->nparams);
    be->download(be, bufs, G->buffers, G->nbuf);
    Pb graph = {0};
    char cur[64] = "z", nxt[64], nm[64];
    for (int li = 0; li < G->nlayers; li++) {
        const Layer *L = &G->layer[li];
        const TensorSpec *w = &G->tensor[L->t_w];
        int64_t wd[4];
        for (int d = 0; d < w->ndim; d++) wd[d] = w->dims[d];
        char wn[32], bn[32] = "";
        snprintf(wn, sizeof wn, "l%d.weight", li);
        add_initializer(&graph, wn, T_FLOAT, wd, w->ndim, params + w->offset, w->numel * sizeof(float));
        if (L->t_b >= 0) {
            const TensorSpec *b = &G->tensor[L->t_b];
            const int64_t bd = (int64_t)b->numel;
            snprintf(bn, sizeof bn, "l%d.bias", li);
            add_initializer(&graph, bn, T_FLOAT, &bd, 1, params + b->offset, b->numel * sizeof(float));
        }
        if (L->kind == LAYER_LINEAR) {
            /* Gemm(z, W^T) + b, then Reshape to (N, cout, h, w) */
            snprintf(nxt, sizeof nxt, "l%d.gemm", li);
            const char *ins[3] = {cur, wn, bn[0] ? bn : NULL};
            Pb n = node_begin("Gemm", nxt, ins, 3, nxt);
            attr_int(&n, "transB", 1);
            pb_msg(&graph, 1, &n);
            char shp[32];
            snprintf(shp, sizeof shp, "l%d.shape", li);
            const int64_t sd = 4, sv[4] = {-1, L->cout, L->hout, L->wout};
            add_initializer(&graph, shp, T_INT64, &sd, 1, sv, sizeof sv);
            snprintf(cur, sizeof cur, "%s", nxt);
            snprintf(nxt, sizeof nxt, "l%d.reshape", li);
            const char *rin[2] = {cur, shp};
            n = node_begin("Reshape", nxt, rin, 2, nxt);
            pb_msg(&graph, 1, &n);
        } else {
            if (li == 0) { /* z (N, nz) -> (N, nz, 1, 1) */
                const int64_t sd = 4, sv[4] = {-1, L->cin, L->hin, L->win};
                add_initializer(&graph, "z.shape", T_INT64, &sd, 1, sv, sizeof sv);
                const char *rin[2] = {"z", "z.shape"};
                Pb n = node_begin("Reshape", "z4", rin, 2, "z4");
                pb_msg(&graph, 1, &n);
                snprintf(cur, sizeof cur, "z4");
            }
            snprintf(nxt, sizeof nxt, "l%d.convt", li);
            const char *ins[3] = {cur, wn, bn[0] ? bn : NULL};
            Pb n = node_begin("ConvTranspose", nxt, ins, 3, nxt);
            const int64_t k[2] = {L->k, L->k}, s[2] = {L->s, L->s}, p[4] = {L->p, L->p, L->p, L->p};
            const int op = L->hout - ((L->hin - 1) * L->s - 2 * L->p + L->k);
            const int64_t o[2] = {op, op};
            attr_ints(&n, "kernel_shape", k, 2);
            attr_ints(&n, "strides", s, 2);
            attr_ints(&n, "pads", p, 4);
            if (op) attr_ints(&n, "output_padding", o, 2);
            pb_msg(&graph, 1, &n);
        }
        snprintf(cur, sizeof cur, "%s", nxt);
        if (L->has_bn) {
            const TensorSpec *ts[4] = {&G->tensor[L->t_gamma], &G->tensor[L->t_beta], &G->buffer[L->t_rmean],
                                       &G->buffer[L->t_rvar]};
            const float *src[4] = {params, params, bufs, bufs};
            static const char *suffix[4] = {"scale", "bias", "mean", "var"};
            char names[4][32];
            for (int q = 0; q < 4; q++) {
                const int64_t d = (int64_t)ts[q]->numel;
                snprintf(names[q], sizeof names[q], "l%d.bn.%s", li, suffix[q]);
                add_initializer(&graph, names[q], T_FLOAT, &d, 1, src[q] + ts[q]->offset, ts[q]->numel * sizeof(float));
            }
            snprintf(nxt, sizeof nxt, "l%d.bn", li);
            const char *ins[5] = {cur, names[0], names[1], names[2], names[3]};
            Pb n = node_begin("BatchNormalization", nxt, ins, 5, nxt);
            attr_float(&n, "epsilon", 1e-5f);
            attr_float(&n, "momentum", 0.9f);
            pb_msg(&graph, 1, &n);
            snprintf(cur, sizeof cur, "%s", nxt);
        }
        const int last = li == G->nlayers - 1;
        const char *op = L->act == ACT_RELU ? "Relu" : L->act == ACT_TANH ? "Tanh" : NULL;
        if (op) {
            snprintf(nm, sizeof nm, "l%d.%s", li, op);
            snprintf(nxt, sizeof nxt, "%s", last ? "images" : nm);
            const char *ins[1] = {cur};
            Pb n = node_begin(op, nm, ins, 1, nxt);
            pb_msg(&graph, 1, &n);
            snprintf(cur, sizeof cur, "%s", nxt);
        }
    }
    if (strcmp(cur, "images")) { /* a last layer without activation */
        const char *ins[1] = {cur};
        Pb n = node_begin("Identity", "out", ins, 1, "images");
        pb_msg(&graph, 1, &n);
    }
    pb_str(&graph, 2, "dcgan_generator");
    const int64_t zin[2] = {-1, mc->nz}, img[4] = {-1, mc->channels, mc->size, mc->size};
    value_info(&graph, 11, "z", zin, 2);
    value_info(&graph, 12, "images", img, 4);

    Pb model = {0}, opset = {0};
    pb_int(&model, 1, 8); /* ir_version */
    pb_str(&model, 2, "dcgan");
    pb_str(&model, 3, "1");
    pb_msg(&model, 7, &graph);
    pb_str(&opset, 1, "");
    pb_int(&opset, 2, 13);
    pb_msg(&model, 8, &opset);
    const int rc = write_file_atomic(path, model.p, model.n, err, errlen);
    pb_free(&model);
    free(params);
    free(bufs);
    return rc;
}
