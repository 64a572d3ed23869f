/* classes.h: the class names of a labelled data set and of a conditional model, kept as one string
 * of names separated by newlines (class k is the k-th line), as the checkpoint stores them. */
#ifndef DCGAN_CLASSES_H
#define DCGAN_CLASSES_H

#include <stddef.h>

#define CLASS_NAMES_MAX 16384 /* bytes for all the names of one model, newlines included */
#define CLASS_NAME_MAX 64    /* bytes for one name */

/* How many names the string holds (0 for NULL or ""). */
int classes_count(const char *names);
/* Name k into out ("" when there is none). */
void classes_name(const char *names, int k, char *out, size_t n);
/* The class a user means: a name (case-insensitive) or a number in [0, K). -1 when neither. */
int classes_find(const char *names, int K, const char *query);
/* Writes the default names of K classes into out: Fashion-MNIST's when fashion is set and K is 10,
 * else "0" .. "K-1". */
void classes_default(char *out, size_t n, int K, int fashion);
/* The names joined by ", " for messages, shortened with "..." to fit n bytes. */
void classes_list(const char *names, char *out, size_t n);

#endif
