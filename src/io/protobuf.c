/* protobuf.c: see protobuf.h (wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32;
 * little-endian hosts). */
#include "protobuf.h"
#include "../core/util.h"

#include <stdlib.h>
#include <string.h>

void pb_raw(Pb *b, const void *d, size_t n) { bytebuf_append(b, d, n); }
void pb_varint(Pb *b, uint64_t v) {
    uint8_t t[10];
    int k = 0;
    do { t[k] = (uint8_t)(v & 127); v >>= 7; if (v) t[k] |= 128; k++; } while (v);
    pb_raw(b, t, (size_t)k);
}
void pb_int(Pb *b, int field, int64_t v) { pb_varint(b, (uint64_t)field << 3 | 0); pb_varint(b, (uint64_t)v); }
void pb_bytes(Pb *b, int field, const void *d, size_t n) { pb_varint(b, (uint64_t)field << 3 | 2); pb_varint(b, n); pb_raw(b, d, n); }
void pb_str(Pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
void pb_float(Pb *b, int field, float v) { pb_varint(b, (uint64_t)field << 3 | 5); pb_raw(b, &v, 4); }
void pb_double(Pb *b, int field, double v) { pb_varint(b, (uint64_t)field << 3 | 1); pb_raw(b, &v, 8); }
void pb_msg(Pb *b, int field, Pb *sub) { pb_bytes(b, field, sub->p, sub->n); pb_free(sub); }
void pb_free(Pb *b) { bytebuf_free(b); }
