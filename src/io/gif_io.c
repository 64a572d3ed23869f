/* gif_io.c: animated GIF encoding with giflib into memory, then one atomic write (see gif_io.h). */
#include "gif_io.h"
#include "fileio.h"
#include "../core/util.h"

#include <gif_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* giflib's output callback: appends to the ByteBuf in UserData */
static int mem_write(GifFileType *gif, const GifByteType *data, int len) {
    bytebuf_append(gif->UserData, data, (size_t)len);
    return len;
}

int gif_write(const char *path, unsigned char *const *frames, int nframes, int w, int h, int comp, int delay_cs,
              int last_delay_cs, char *err, size_t errlen) {
    ByteBuf m = {0};
    int gerr = 0, rc = -1;
    const char *what = "open";
    GifFileType *gif = EGifOpen(&m, mem_write, &gerr);
    if (!gif) goto done;
    GifColorType gray[256];
    for (int i = 0; i < 256; i++) gray[i].Red = gray[i].Green = gray[i].Blue = (GifByteType)i;
    ColorMapObject *global = comp == 1 ? GifMakeMapObject(256, gray) : NULL;
    EGifSetGifVersion(gif, true);
    what = "write the header of";
    if (EGifPutScreenDesc(gif, w, h, 8, 0, global) != GIF_OK) goto fail;
    /* the NETSCAPE2.0 application block: loop forever */
    static const unsigned char loop[3] = {1, 0, 0};
    if (EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) != GIF_OK ||
        EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") != GIF_OK || EGifPutExtensionBlock(gif, 3, loop) != GIF_OK ||
        EGifPutExtensionTrailer(gif) != GIF_OK)
        goto fail;
    GifByteType *idx = xmalloc((size_t)w * h), *r = NULL, *g = NULL, *b = NULL;
    if (comp == 3) { r = xmalloc((size_t)w * h); g = xmalloc((size_t)w * h); b = xmalloc((size_t)w * h); }
    what = "encode a frame of";
    for (int f = 0; f < nframes; f++) {
        GraphicsControlBlock gcb = {DISPOSE_DO_NOT, false, f == nframes - 1 ? last_delay_cs : delay_cs, NO_TRANSPARENT_COLOR};
        GifByteType ext[4];
        const size_t elen = EGifGCBToExtension(&gcb, ext);
        if (EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, (int)elen, ext) != GIF_OK) break;
        ColorMapObject *local = NULL;
        if (comp == 1) {
            memcpy(idx, frames[f], (size_t)w * h);
        } else {
            for (size_t i = 0; i < (size_t)w * h; i++) {
                r[i] = frames[f][3 * i]; g[i] = frames[f][3 * i + 1]; b[i] = frames[f][3 * i + 2];
            }
            GifColorType pal[256];
            int ncol = 256;
            if (GifQuantizeBuffer((unsigned)w, (unsigned)h, &ncol, r, g, b, idx, pal) != GIF_OK) break;
            local = GifMakeMapObject(256, pal);
            if (!local) break;
        }
        int ok = EGifPutImageDesc(gif, 0, 0, w, h, false, local) == GIF_OK;
        for (int y = 0; ok && y < h; y++) ok = EGifPutLine(gif, idx + (size_t)y * w, w) == GIF_OK;
        GifFreeMapObject(local);
        if (!ok) break;
        if (f == nframes - 1) what = NULL;
    }
    free(idx); free(r); free(g); free(b);
    if (what) goto fail;
    GifFreeMapObject(global);
    global = NULL;
    if (EGifCloseFile(gif, &gerr) != GIF_OK) { gif = NULL; what = "finish"; goto done; }
    gif = NULL;
    rc = write_file_atomic(path, m.p, m.n, err, errlen);
    bytebuf_free(&m);
    return rc;
fail:
    gerr = gif->Error;
    GifFreeMapObject(global);
    EGifCloseFile(gif, NULL);
done:
    snprintf(err, errlen, "cannot %s %s: giflib: %s", what, path, GifErrorString(gerr));
    bytebuf_free(&m);
    return -1;
}
