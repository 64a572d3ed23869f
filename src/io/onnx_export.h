/* onnx_export.h: the generator as an ONNX model (opset 13) written with a small protobuf encoder:
 * input "z" float [N, nz], output "images" float [N, C, S, S] in [-1, 1], batch norm in inference
 * mode (running statistics), N dynamic. */
#ifndef DCGAN_ONNX_EXPORT_H
#define DCGAN_ONNX_EXPORT_H

#include "../models/model.h"

/* 0, or -1 with one line in err. */
int onnx_export_generator(const char *path, const Net *G, Backend *be, const ModelConfig *mc, char *err, size_t errlen);

#endif
