#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init_buf.h"
#include "log.h"
#include "xmalloc.h"

struct init_buf *
init_buf_new(void)
{
	struct init_buf *b;

	b = xcalloc(1, sizeof(*b));
	b->size = 256;
	b->data = xmalloc(b->size);
	b->data[0] = '\0';
	return b;
}

void
init_buf_free(struct init_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	free(b);
}

/* Makes room for need more bytes plus the NUL. */
static void
init_buf_grow(struct init_buf *b, size_t need)
{
	size_t size;
	char *data;

	if (need >= b->size - b->len) {
		size = b->size;
		while (need >= size - b->len) {
			if (size > ((size_t)-1) / 2)
				fatalx("text buffer too large");
			size *= 2;
		}
		data = realloc(b->data, size);
		if (data == NULL)
			fatal("realloc");
		b->data = data;
		b->size = size;
	}
}

void
init_buf_add(struct init_buf *b, const void *data, size_t len)
{
	init_buf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
init_buf_printf(struct init_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vsnprintf");
	if ((size_t)n >= b->size - b->len) {
		init_buf_grow(b, (size_t)n);
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->size - b->len, fmt, ap);
		va_end(ap);
		if (n < 0 || (size_t)n >= b->size - b->len)
			fatalx("vsnprintf: output changed size");
	}
	b->len += (size_t)n;
}
