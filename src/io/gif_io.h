/* gif_io.h: animated GIFs through giflib (Debian's libgif-dev), written atomically. */
#ifndef DCGAN_GIF_IO_H
#define DCGAN_GIF_IO_H

#include <stddef.h>

/* Writes nframes frames of w x h 8-bit pixels (comp 1 gray, or 3 RGB), looping forever. Each frame
 * shows delay_cs hundredths of a second, the last one last_delay_cs. Gray frames share one palette
 * of 256 grays (exact); RGB frames get their own 256-colour palette (median cut). 0, or -1 with one
 * line in err. */
int gif_write(const char *path, unsigned char *const *frames, int nframes, int w, int h, int comp, int delay_cs,
              int last_delay_cs, char *err, size_t errlen);

#endif
