#include "config.h"

#include "json_esc.h"

void
json_esc_field(
    struct evbuffer *b, const char *key, const char *value, int comma)
{
	const char *p, *run;

	evbuffer_add_printf(b, "%s\"%s\":\"", comma ? "," : "", key);
	/* Plain runs go in one call: most values need no escape at all. */
	for (p = run = value; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f)
			continue;
		evbuffer_add(b, run, (size_t)(p - run));
		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else
			evbuffer_add_printf(b, "\\u%04x", c);
		run = p + 1;
	}
	evbuffer_add(b, run, (size_t)(p - run));
	evbuffer_add(b, "\"", 1);
}
