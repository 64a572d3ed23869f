/* opts.h: a small table-driven command-line parser shared by every dcgan subcommand.
 * Each option is "--name VALUE" or "--name=VALUE" (a flag takes no value). The help text lists
 * every option with its default, taken from the variable's value before parsing. */
#ifndef DCGAN_OPTS_H
#define DCGAN_OPTS_H

#include <stddef.h>

typedef enum { OPT_INT, OPT_LONG, OPT_FLOAT, OPT_STR, OPT_FLAG } OptType;

typedef struct {
    const char *name;    /* without the leading dashes; a one-letter name also answers to -x */
    OptType type;
    void *dst;           /* int*, long*, float*, const char**, int* (flag) */
    const char *help;
    double min, max;     /* numeric range, inclusive (ignored when min > max) */
} OptSpec;

/* Parses argv[first..argc) without exiting: 0 parsed, 1 --help was asked for, -1 a mistake
 * (one line naming the option in err). */
int opts_try_parse(const char *cmd, const OptSpec *spec, int nspec, int argc, char **argv, int first, char *err,
                   size_t errlen);
/* Parses argv[first..argc). Prints help and exits 0 on --help; dies with one line naming the
 * option on any mistake. */
void opts_parse(const char *cmd, const char *summary, const OptSpec *spec, int nspec, int argc, char **argv,
                int first);
void opts_print_help(const char *cmd, const char *summary, const OptSpec *spec, int nspec);

#endif
