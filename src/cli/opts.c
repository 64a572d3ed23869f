/* opts.c: the command-line parser (see opts.h). */
#include "opts.h"
#include "../core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_default(const OptSpec *o) {
    switch (o->type) {
    case OPT_INT: printf(" (default %d)", *(int *)o->dst); break;
    case OPT_LONG: printf(" (default %ld)", *(long *)o->dst); break;
    case OPT_FLOAT: printf(" (default %g)", *(float *)o->dst); break;
    case OPT_STR: {
        const char *s = *(const char **)o->dst;
        if (s && *s) printf(" (default %s)", s);
        break;
    }
    case OPT_FLAG: break;
    }
}

void opts_print_help(const char *cmd, const char *summary, const OptSpec *spec, int nspec) {
    printf("usage: dcgan %s [options]\n%s\n\noptions:\n", cmd, summary);
    for (int i = 0; i < nspec; i++) {
        const OptSpec *o = &spec[i];
        char left[64];
        const char *meta = o->type == OPT_FLAG ? "" : o->type == OPT_STR ? " S" : o->type == OPT_FLOAT ? " X" : " N";
        if (strlen(o->name) == 1) snprintf(left, sizeof left, "-%s%s", o->name, meta);
        else snprintf(left, sizeof left, "--%s%s", o->name, meta);
        printf("  %-24s %s", left, o->help);
        if (!strstr(o->help, "(default")) print_default(o); /* a help text that names its default says it best */
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

static const OptSpec *find(const OptSpec *spec, int nspec, const char *name, size_t len) {
    for (int i = 0; i < nspec; i++)
        if (strlen(spec[i].name) == len && !strncmp(spec[i].name, name, len)) return &spec[i];
    return NULL;
}

int opts_try_parse(const char *cmd, const OptSpec *spec, int nspec, int argc, char **argv, int first, char *err,
                   size_t errlen) {
#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        const char *name;
        if (a[0] == '-' && a[1] == '-' && a[2]) name = a + 2;
        else if (a[0] == '-' && a[1] && !a[2]) name = a + 1;
        else FAIL("%s: unexpected argument '%s'; options start with -- (see dcgan %s --help)", cmd, a, cmd);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const OptSpec *o = find(spec, nspec, name, len);
        if (!o) FAIL("%s: unknown option '%.*s' (see dcgan %s --help)", cmd, (int)(len + (name - a)), a, cmd);
        if (o->type == OPT_FLAG) {
            if (eq) FAIL("%s: option --%s takes no value", cmd, o->name);
            *(int *)o->dst = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) FAIL("%s: option --%s needs a value (see dcgan %s --help)", cmd, o->name, cmd);
        long lv;
        double dv;
        switch (o->type) {
        case OPT_INT:
        case OPT_LONG:
            if (parse_long(val, &lv) != 0) FAIL("%s: --%s '%s' is not a whole number", cmd, o->name, val);
            if (o->min <= o->max && (lv < o->min || lv > o->max))
                FAIL("%s: --%s %ld is out of range; use %.0f to %.0f", cmd, o->name, lv, o->min, o->max);
            if (o->type == OPT_INT) *(int *)o->dst = (int)lv;
            else *(long *)o->dst = lv;
            break;
        case OPT_FLOAT:
            if (parse_double(val, &dv) != 0 || dv != dv) FAIL("%s: --%s '%s' is not a number", cmd, o->name, val);
            if (o->min <= o->max && (dv < o->min || dv > o->max))
                FAIL("%s: --%s %g is out of range; use %g to %g", cmd, o->name, dv, o->min, o->max);
            *(float *)o->dst = (float)dv;
            break;
        case OPT_STR: *(const char **)o->dst = val; break;
        case OPT_FLAG: break;
        }
    }
    return 0;
#undef FAIL
}

void opts_parse(const char *cmd, const char *summary, const OptSpec *spec, int nspec, int argc, char **argv,
                int first) {
    char err[512];
    int rc = opts_try_parse(cmd, spec, nspec, argc, argv, first, err, sizeof err);
    if (rc == 1) {
        opts_print_help(cmd, summary, spec, nspec);
        exit(0);
    }
    if (rc != 0) die("%s", err);
}
