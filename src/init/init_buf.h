/*
 * A growing, always NUL-terminated text buffer: weft-init builds the
 * restore input and collects the output of the programs it runs in it.
 */
#ifndef WEFT_INIT_BUF_H
#define WEFT_INIT_BUF_H

#include <stddef.h>

struct init_buf {
	char *data; /* NUL-terminated; never NULL */
	size_t len; /* bytes before the NUL */
	size_t size;
};

/* Returns an empty buffer; exits on allocation failure (startup code). */
struct init_buf *init_buf_new(void);
/* Frees the buffer and its data; NULL is a no-op. */
void init_buf_free(struct init_buf *b);
/* Appends len bytes of data; exits on allocation failure. */
void init_buf_add(struct init_buf *b, const void *data, size_t len);
/* Appends formatted text; exits on allocation failure. */
void init_buf_printf(struct init_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
