/*
 * Allocation for startup code, where running out of memory is fatal.
 * Per-connection code uses malloc/calloc directly and drops the
 * connection on failure instead.
 */
#ifndef WEFT_XMALLOC_H
#define WEFT_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
int xasprintf(char **ret, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
