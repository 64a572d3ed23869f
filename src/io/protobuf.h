/* protobuf.h: a minimal protocol-buffers encoder for the files we write in Google's formats (ONNX
 * models, TensorBoard events). A message is built in its own Pb and then embedded in its parent
 * with pb_msg, which frees it. */
#ifndef DCGAN_PROTOBUF_H
#define DCGAN_PROTOBUF_H

#include "../core/util.h"

#include <stddef.h>
#include <stdint.h>

typedef ByteBuf Pb;

void pb_raw(Pb *b, const void *d, size_t n);
void pb_varint(Pb *b, uint64_t v);
void pb_int(Pb *b, int field, int64_t v);                          /* varint field */
void pb_bytes(Pb *b, int field, const void *d, size_t n);          /* length-delimited */
void pb_str(Pb *b, int field, const char *s);
void pb_float(Pb *b, int field, float v);                          /* fixed32 */
void pb_double(Pb *b, int field, double v);                        /* fixed64 */
void pb_msg(Pb *b, int field, Pb *sub);                            /* embeds and frees sub */
void pb_free(Pb *b);

#endif
