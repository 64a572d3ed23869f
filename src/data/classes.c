/* classes.c: class names as one newline-separated string (see classes.h). */
#include "classes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int classes_count(const char *names) {
    if (!names || !*names) return 0;
    int k = 1;
    for (const char *p = names; *p; p++) k += *p == '\n';
    return k;
}

void classes_name(const char *names, int k, char *out, size_t n) {
    out[0] = 0;
    if (!names) return;
    const char *p = names;
    for (int i = 0; i < k && p; i++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p) return;
    const char *e = strchr(p, '\n');
    const size_t len = e ? (size_t)(e - p) : strlen(p);
    snprintf(out, n, "%.*s", (int)len, p);
}

int classes_find(const char *names, int K, const char *query) {
    char name[CLASS_NAME_MAX];
    for (int k = 0; k < K; k++) { /* a name first: a class may be called "3" */
        classes_name(names, k, name, sizeof name);
        if (name[0] && !strcasecmp(name, query)) return k;
    }
    char *end;
    const long v = strtol(query, &end, 10);
    if (*query && !*end && v >= 0 && v < K) return (int)v;
    return -1;
}

void classes_default(char *out, size_t n, int K, int fashion) {
    static const char *fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    size_t at = 0;
    out[0] = 0;
    for (int k = 0; k < K && at < n; k++) {
        int w;
        if (fashion && K == 10) w = snprintf(out + at, n - at, "%s%s", k ? "\n" : "", fashion_names[k]);
        else w = snprintf(out + at, n - at, "%s%d", k ? "\n" : "", k);
        if (w < 0) break;
        at += (size_t)w;
    }
}

void classes_list(const char *names, char *out, size_t n) {
    const int K = classes_count(names);
    size_t at = 0;
    out[0] = 0;
    for (int k = 0; k < K; k++) {
        char name[CLASS_NAME_MAX];
        classes_name(names, k, name, sizeof name);
        const int w = snprintf(out + at, n - at, "%s%s", k ? ", " : "", name);
        if (w < 0 || at + (size_t)w + 4 >= n) {
            if (n > 4) snprintf(out + (at + 4 < n ? at : n - 4), 4, "...");
            return;
        }
        at += (size_t)w;
    }
}
